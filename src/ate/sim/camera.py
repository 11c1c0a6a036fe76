"""Offscreen frames of a mujoco scene from one of its named cameras.

Rendering needs a headless OpenGL chosen through ``MUJOCO_GL`` *before* mujoco is imported
(``egl``: works with Mesa's software rasteriser, no GPU needed; ``osmesa``); the simulation
itself never needs it, so environments build their camera only when a frame is asked for.
"""

from __future__ import annotations

import numpy as np


class Camera:
    """One named camera of a scene; its ``mujoco.Renderer`` is built on the first frame.

    Args:
        name: the camera's name in the model (Meta-World ``corner``, robosuite ``frontview``).
        upside_down: the camera's image comes out upside down (Meta-World's cameras do).
    """

    def __init__(self, name: str, upside_down: bool = False) -> None:
        self.name, self.upside_down = name, upside_down
        self._renderer = None
        self._key: tuple[int, int, int] | None = None

    def frame(self, model, data, width: int, height: int) -> np.ndarray:
        """The scene of ``data`` (a ``mujoco.MjData`` of ``model``) as (height, width, 3)
        uint8 pixels."""
        import mujoco

        key = (id(model), width, height)
        if self._key != key:
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = mujoco.Renderer(model, height, width)
            self._key = key
        self._renderer.update_scene(data, camera=self.name)
        pixels = self._renderer.render()
        return (pixels[::-1] if self.upside_down else pixels).copy()

    def close(self) -> None:
        """Free the GL context now: freed at interpreter exit instead, after EGL has shut
        down, it raises (harmlessly, but loudly)."""
        if self._renderer is not None:
            self._renderer.close()
        self._renderer, self._key = None, None
