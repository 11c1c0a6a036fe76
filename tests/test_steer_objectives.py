"""Steer's guided objectives against the published formulas and each family's own
reconstruction of the clean action, for both orders of scale and clamp, over the whole legal
time range (both ends included)."""

from __future__ import annotations

import pytest
import torch

from ate.steer import guided_loss, guided_target, masked_mse, shift_bound, target_shift

FAMILIES = ("epsilon", "v_prediction", "sample", "flow", "flow_pi0")
ORDERS = ("scale_then_clamp", "clamp_then_scale")
g0 = torch.Generator().manual_seed(0)


def rand(*shape, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=g0, dtype=dtype)


# Legal times, both ends: abar in (0, 1] (a DDPM's last abar is 2.4e-9 at 1000 steps, 0 is
# not a diffusion time: x_t would hold no a0), tau in [0, 1], t in [0, 1].
TIMES = {
    "epsilon": [2.4e-9, 1e-3, 0.1, 0.45, 0.9, 1.0],
    "v_prediction": [2.4e-9, 1e-3, 0.1, 0.45, 0.9, 1.0],
    "sample": [2.4e-9, 1e-3, 0.1, 0.45, 0.9, 1.0],
    "flow": [0.0, 1e-9, 0.1, 0.45, 0.9, 1.0],
    "flow_pi0": [0.0, 0.1, 0.55, 0.9, 1 - 1e-9, 1.0],
}


def noisy_input(family: str, a0, eps, t) -> torch.Tensor:
    if family in ("epsilon", "v_prediction", "sample"):
        return t.sqrt() * a0 + (1 - t).sqrt() * eps
    if family == "flow":  # a_tau = tau a0 + (1 - tau) eps
        return t * a0 + (1 - t) * eps
    return t * eps + (1 - t) * a0  # pi0: x_t = t eps + (1 - t) a0


def implied_x0(family: str, pred, x_t, t) -> torch.Tensor:
    """Each family's own reconstruction of a0 from its noisy input and its prediction."""
    if family == "epsilon":
        return (x_t - (1 - t).sqrt() * pred) / t.sqrt()
    if family == "v_prediction":
        return t.sqrt() * x_t - (1 - t).sqrt() * pred
    if family == "sample":
        return pred
    if family == "flow":
        return x_t + (1 - t) * pred
    return x_t - t * pred


def plain_target(family: str, a0, eps, t) -> torch.Tensor:
    return {"epsilon": eps, "v_prediction": t.sqrt() * eps - (1 - t).sqrt() * a0,
            "sample": a0, "flow": a0 - eps, "flow_pi0": eps - a0}[family]


def published(family: str, order: str, plain, g, t, lam, c, floor) -> torch.Tensor:
    """The guided target written out from METHOD.md section 6 (paper sign). The release's
    own code (epsilon and x0) is ``pred + lam * clamp(coef * grad)`` regressed onto the plain
    target, with coef = -sqrt(1 - abar) (epsilon) and (1 - abar) / sqrt(abar) (x0); the
    other families carry the paper's coefficient into the same place."""
    def clamp(x):
        return x.clamp(-c, c)
    a = t.clamp(min=max(floor, 1e-12))
    if family in ("epsilon", "sample"):
        coef = -(1 - a).sqrt() if family == "epsilon" else (1 - a) / a.sqrt()
        term = clamp(coef * g) if order == "scale_then_clamp" else coef * clamp(g)
        return plain - lam * term  # the optimum of ||pred + lam * term - plain||^2
    if family == "v_prediction":
        coef = ((1 - a) / a).sqrt()
        return plain + lam * (clamp(coef * g) if order == "scale_then_clamp" else coef * clamp(g))
    if family == "flow":  # ||v + ((1 - tau) / tau) lam g - (a0 - eps)||^2
        coef = (1 - a) / a
        return plain - lam * (clamp(coef * g) if order == "scale_then_clamp" else coef * clamp(g))
    one_minus_t = (1 - t).clamp(min=max(floor, 1e-12))  # pi0: tau = 1 - t, u = -v
    coef = (1 - one_minus_t) / one_minus_t
    return plain + lam * (clamp(coef * g) if order == "scale_then_clamp" else coef * clamp(g))


BOUND = {  # |r(t)|: how a unit change of the prediction moves the implied clean action
    "epsilon": lambda t: ((1 - t) / t).sqrt(), "v_prediction": lambda t: (1 - t).sqrt(),
    "sample": lambda t: torch.ones_like(t), "flow": lambda t: 1 - t, "flow_pi0": lambda t: t}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("floor", [0.0, 0.3])
def test_guided_target_is_the_published_formula(family, order, floor) -> None:
    t = torch.tensor(TIMES[family], dtype=torch.float64).view(-1, 1, 1)
    a0, eps, g = rand(len(t), 5, 3), rand(len(t), 5, 3), rand(len(t), 5, 3) * 0.3
    plain = plain_target(family, a0, eps, t)
    got = guided_target(family, plain, g, t.flatten(), lam=1.7, clamp=0.05, order=order,
                        floor=floor)
    torch.testing.assert_close(got, published(family, order, plain, g, t, 1.7, 0.05, floor))
    assert guided_loss(family, got, plain, g, t.flatten(), lam=1.7, clamp=0.05, order=order,
                       floor=floor) < 1e-20
    tilted = guided_target(family, plain, g, t.flatten(), lam=1.7, clamp=0.05, order=order,
                           floor=floor, sign="tilted")
    torch.testing.assert_close(tilted - plain, -(got - plain))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("sign", ["paper", "tilted"])
@pytest.mark.parametrize("floor", [0.0, 0.3, 0.6])
def test_diagnostic_equals_the_implied_shift_at_every_time(family, order, sign, floor) -> None:
    """The clean action the network implies at the guided target's optimum, minus a0, is
    what ``target_shift`` reports, below the floor too; scale-then-clamp keeps it within
    lam * c * |r(t)|."""
    t = torch.tensor(TIMES[family], dtype=torch.float64).view(-1, 1, 1)
    a0, eps, g = rand(len(t), 5, 3), rand(len(t), 5, 3), rand(len(t), 5, 3) * 0.3
    x_t = noisy_input(family, a0, eps, t)
    lam, c = 2.0, 0.1
    best = guided_target(family, plain_target(family, a0, eps, t), g, t.flatten(), lam=lam,
                         clamp=c, sign=sign, order=order, floor=floor)
    implied = implied_x0(family, best, x_t, t) - implied_x0(
        family, plain_target(family, a0, eps, t), x_t, t)
    reported = target_shift(family, g, t.flatten(), lam=lam, clamp=c, sign=sign, order=order,
                            floor=floor)
    torch.testing.assert_close(reported, implied, rtol=1e-6, atol=1e-6)
    assert torch.isfinite(reported).all()
    if order == "scale_then_clamp":
        bound = lam * c * BOUND[family](t)
        assert (implied.abs() <= bound * (1 + 1e-9) + 1e-9).all()
        torch.testing.assert_close(shift_bound(family, t.flatten(), lam=lam, clamp=c, like=g)
                                   .expand_as(g), bound.expand_as(g))


def test_old_diagnostic_under_reported_below_the_floor() -> None:
    """Flow below the floor: the target moves the clean action by (1 - tau)(1 - tau_f)/tau_f,
    not the floored (1 - tau_f)^2 / tau_f the diagnostic used to report (1.5x at tau 0.25,
    floor 0.5)."""
    g = torch.ones(1, 1, 1, dtype=torch.float64)
    tau = torch.tensor([0.25], dtype=torch.float64)
    shift = target_shift("flow", g, tau, lam=1.0, clamp=None, order="clamp_then_scale",
                         floor=0.5)
    assert shift.abs().item() == pytest.approx(0.75 * 0.5 / 0.5)
    assert shift.abs().item() / (0.5 ** 2 / 0.5) == pytest.approx(1.5)


def test_pi0_convention_equals_tau_convention() -> None:
    a0, eps, g = rand(3, 5, 2), rand(3, 5, 2), rand(3, 5, 2)
    tau = torch.tensor([0.1, 0.5, 0.95], dtype=torch.float64)
    for order in ORDERS:
        v = guided_target("flow", a0 - eps, g, tau, lam=2.0, clamp=0.1, order=order)
        u = guided_target("flow_pi0", eps - a0, g, 1 - tau, lam=2.0, clamp=0.1, order=order)
        torch.testing.assert_close(u, -v)


def test_lambda_zero_is_the_plain_loss_bit_for_bit() -> None:
    pred, target, g = (rand(4, 5, 3, dtype=torch.float32) for _ in range(3))
    mask = torch.tensor([True, False, True])
    abar = torch.rand(4, generator=g0)
    for family in FAMILIES:
        for order in ORDERS:
            guided = guided_loss(family, pred, target, g, abar, lam=0.0, mask=mask,
                                 order=order)
            assert torch.equal(guided, masked_mse(pred, target, mask))
    plain = ((pred - target) ** 2)[..., [0, 2]].mean()
    torch.testing.assert_close(masked_mse(pred, target, mask), plain)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_no_inf_or_nan_at_any_legal_time_without_a_floor(dtype) -> None:
    g = rand(6, 4, 2, dtype=dtype) * 1e3
    g[..., 1] = 0  # a masked slot: 0 * a huge factor must stay 0
    edges = torch.tensor([0.0, 1e-12, 2.4e-9, 0.5, 1 - 1e-7, 1.0], dtype=torch.float64)
    for family in FAMILIES:
        for order in ORDERS:
            for clamp in (None, 0.1):
                out = guided_target(family, torch.zeros_like(g), g, edges, lam=3.0,
                                    clamp=clamp, order=order, floor=0.0)
                shift = target_shift(family, g, edges, lam=3.0, clamp=clamp, order=order)
                assert torch.isfinite(out).all() and torch.isfinite(shift).all(), family
                assert (out[..., 1] == 0).all() and (shift[..., 1] == 0).all()


def test_release_clamp_saturates_over_the_noisy_half_of_rdt_schedule() -> None:
    """METHOD.md: on RDT's 1000-step squared-cosine schedule (1 - abar)/sqrt(abar) spans
    4e-5 .. 2e4 and crosses 1 near t = 572, so with c = 0.1 and |g| = 0.1 the x0 term is
    +-lam*c (only g's sign survives) over the noisy 43% of the schedule."""
    from diffusers import DDPMScheduler

    abar = DDPMScheduler(num_train_timesteps=1000,
                         beta_schedule="squaredcos_cap_v2").alphas_cumprod.double()
    s = (1 - abar) / abar.sqrt()
    assert s[0] < 1e-3 and s[-1] > 1e4
    g = torch.full((1000, 2, 2), 0.1, dtype=torch.float64)
    term = guided_target("sample", torch.zeros_like(g), g, abar, lam=3.0, clamp=0.1) * -1
    assert torch.isfinite(term).all()
    saturated = (term.abs() >= 3.0 * 0.1 - 1e-12).all(-1).all(-1)
    assert saturated[580:].all() and not saturated[:565].any()
