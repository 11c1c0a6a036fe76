"""The report's numbers on latents whose answer is known in closed form."""

from __future__ import annotations

import math

import pytest
import torch

from ate.align.prior import LatentPrior
from ate.align.report import Latents, alignment_metrics, verdict

g = torch.Generator().manual_seed(0)


def standard_prior(d: int) -> LatentPrior:
    return LatentPrior("gaussian", torch.ones(1), torch.zeros(1, d), torch.eye(d)[None])


def test_latents_drawn_from_the_prior() -> None:
    d = 4
    prior = standard_prior(d)
    mu = torch.randn(20000, d, generator=g)
    tiny = torch.full_like(mu, -20.0)  # posteriors ~ points: samples equal the means
    m = alignment_metrics(prior, Latents(mu.flip(0), tiny), Latents(mu, tiny))
    # NLL of N(0, I) samples is the entropy, d/2 log(2 pi e)
    assert abs(m["nll_per_dim"] - 0.5 * math.log(2 * math.pi * math.e)) < 0.02
    assert abs(m["inside_region"] - 0.95) < 0.01
    assert abs(m["mmd"]) < 1e-3


def test_latents_off_the_prior_are_flagged() -> None:
    d = 4
    prior = standard_prior(d)
    ref = Latents(torch.randn(2000, d, generator=g), torch.full((2000, d), -20.0))
    far = Latents(torch.randn(2000, d, generator=g) + 6.0, torch.full((2000, d), -20.0))
    near = Latents(torch.randn(2000, d, generator=g) * 0.5, torch.full((2000, d), -20.0))
    m_far, m_near = alignment_metrics(prior, ref, far), alignment_metrics(prior, ref, near)
    assert m_far["inside_region"] < 0.01 and m_near["inside_region"] > 0.99
    assert m_far["nll"] > m_near["nll"] and m_far["mmd"] > m_near["mmd"]
    assert any("95% region" in w for w in verdict({"aligned": m_far}))
    assert verdict({"aligned": m_near, "single_stage": m_far}) == []
    assert any("did not align" in w for w in verdict({"aligned": m_far, "single_stage": m_near}))



def test_a_prior_narrower_than_its_own_latents_is_named_instead_of_the_target() -> None:
    d = 4
    tiny = torch.full((2000, d), -20.0)
    latents = Latents(torch.randn(2000, d, generator=g), tiny)
    # the release's estimate: the mean of the means and a small std (here 0.2 against the
    # means' spread of 1), so neither the pre-training latents nor a target drawn like them
    # lie inside its 95% region
    narrow = LatentPrior.fit("release", latents.mu, torch.full((2000, d), 2 * math.log(0.2)))
    own = alignment_metrics(narrow, latents, latents)
    target = alignment_metrics(narrow, latents, Latents(torch.randn(2000, d, generator=g), tiny))
    # closed form: |z|^2 / 0.2^2 ~ chi2_4 scaled by 25, inside when below chi2_4's 0.95
    # quantile 9.4877, i.e. P(chi2_4 < x) = 1 - exp(-x / 2) (1 + x / 2) at x = 0.04 * 9.4877
    x = 0.04 * 9.4877
    expected = 1 - math.exp(-x / 2) * (1 + x / 2)  # 1.6%
    assert own["inside_region"] == pytest.approx(expected, abs=0.01)
    assert target["inside_region"] == pytest.approx(expected, abs=0.01)
    (warning,) = verdict({"aligned": target, "pretraining_reference": own})
    assert "narrower" in warning and "prior.kind=gaussian" in warning
    # fit as a full Gaussian, the same latents are covered and nothing is said
    wide = LatentPrior.fit("gaussian", latents.mu, torch.full((2000, d), 2 * math.log(0.2)))
    assert verdict({"aligned": alignment_metrics(wide, latents, latents),
                    "pretraining_reference": alignment_metrics(wide, latents, latents)}) == []


def test_controls_as_likely_as_the_target_are_flagged() -> None:
    d = 4
    prior = standard_prior(d)
    tiny = torch.full((2000, d), -20.0)
    ref = Latents(torch.randn(2000, d, generator=g), tiny)
    target = alignment_metrics(prior, ref, Latents(torch.randn(2000, d, generator=g), tiny))
    # a control drawn from the prior too is as likely as the target; one shifted by 3 in
    # every dim is not (its nll is higher by 3^2 / 2 = 4.5 nats per dim, far above the margin)
    alike = alignment_metrics(prior, ref, Latents(torch.randn(2000, d, generator=g), tiny))
    off = alignment_metrics(prior, ref, Latents(torch.randn(2000, d, generator=g) + 3.0,
                                                tiny))
    assert verdict({"aligned": target}, {"far": off}) == []
    (warning,) = verdict({"aligned": target}, {"alike": alike, "far": off})
    assert "from alike chunks" in warning and "manifold" in warning


def test_control_chunks_keep_the_values_and_the_range() -> None:
    from ate.align.report import control_chunks

    x = torch.randn(50, 8, 3, generator=g)
    x[..., 2] = 0.0  # an unused slot
    mask = torch.tensor([True, True, False]).expand(50, -1)
    out = control_chunks({"action": x, "action_mask": mask})
    shuffled, noise = out["time-shuffled"], out["uniform noise"]
    assert shuffled.shape == noise.shape == x.shape
    assert not torch.equal(shuffled, x)
    torch.testing.assert_close(shuffled.sort(dim=1).values, x.sort(dim=1).values)
    for dim in (0, 1):
        assert x[..., dim].min() <= noise[..., dim].min() <= noise[..., dim].max() \
            <= x[..., dim].max()
    assert (noise[..., 2] == 0).all()

def test_a_series_beyond_the_plotted_range_is_drawn_at_its_left_edge(tmp_path, monkeypatch
                                                                     ) -> None:
    import warnings

    from matplotlib.axes import Axes

    from ate.align.report import plot_report

    drawn: dict[str, float] = {}
    hist = Axes.hist

    def recording(self, x, *args, **kwargs):
        n, bins, patches = hist(self, x, *args, **kwargs)
        drawn[kwargs["label"]] = float((n * (bins[1] - bins[0])).sum())
        return n, bins, patches

    monkeypatch.setattr(Axes, "hist", recording)
    d, tiny = 4, torch.full((500, 4), -20.0)
    prior = standard_prior(d)
    near = Latents(torch.randn(500, d, generator=g) * 0.5, tiny)
    far = Latents(torch.randn(500, d, generator=g) * 0.1 + 40.0, tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero of an empty density
        plot_report(tmp_path, near, {"aligned": near, "single_stage": far}, prior,
                    {"target": {"mae_per_dim": [0.1] * d}})
    assert drawn["target, single_stage"] == pytest.approx(1.0)  # all of it, at the edge
