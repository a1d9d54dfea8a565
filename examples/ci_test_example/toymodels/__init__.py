"""Three tiny image denoisers: a robust, an erratic and a stochastic one."""

from __future__ import annotations

import torch
from torch import nn


class SmoothDenoiser(nn.Module):
    """3×3 box blur per channel: Lipschitz constant at most 1 (a robust estimator)."""

    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.blur = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        with torch.no_grad():
            self.blur.weight.fill_(1.0 / 9.0)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.blur(y)


class ErraticDenoiser(nn.Module):
    """Blur plus a high-frequency ripple: tiny input changes flip the output (erratic)."""

    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.smooth = SmoothDenoiser(channels)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.smooth(y) + 0.05 * torch.sin(200.0 * y)


class NoisyDenoiser(nn.Module):
    """A stochastic denoiser ``G(y, z)``: blur plus a little seed-driven texture."""

    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.smooth = SmoothDenoiser(channels)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.smooth(y) + 0.02 * z


def make_model(name: str) -> nn.Module:
    """``"smooth"``, ``"erratic"`` or ``"noisy"``."""
    models = {"smooth": SmoothDenoiser, "erratic": ErraticDenoiser, "noisy": NoisyDenoiser}
    return models[name]()
