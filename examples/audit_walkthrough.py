"""Files for the ``stochrobust audit`` walkthrough of docs/testing.md ("Auditing a checkpoint").

Trains a small residual CNN denoiser (Gaussian noise, sigma = 0.1) on 32×32 tiles of the
two photos scikit-learn ships and writes what a user of a restoration codebase has:

- ``denoiser.pt``: a checkpoint ``{"model": state_dict, "step": ..., "sigma": ...}``
  (plain ``torch.save``; the audit reads it with ``weights_only=True``);
- ``denoiser.pt2``: the same network as a ``torch.export`` archive (dynamic batch);
- ``noisy_tiles/``: 12 held-out noisy tiles as PNG files (the audit's inputs);
- ``denoiser_examples.png``: noisy, denoised and clean held-out tiles;
- ``disk_y.npy``: 64 observations ``Y = X⁽¹⁾`` of the disk toy problem of
  ``stochrobust demo``, for auditing the demo's own estimators.

This file is also the architecture module of the walkthrough: ``stochrobust audit
examples/audit_walkthrough.py:make --weights denoiser.pt`` imports it (executing its top
level, which only defines the factories) and calls ``make()``.

    python examples/audit_walkthrough.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

SIGMA = 0.1
TILE = 32


class Denoiser(nn.Module):
    """``x̂ = y − f(y)``: a three-layer CNN predicting the noise (DnCNN-style, tiny)."""

    def __init__(self, width: int = 24) -> None:
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 3, 3, padding=1),
        )  # fmt: skip

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y - self.f(y)


def make() -> Denoiser:
    """The factory ``stochrobust audit`` calls (untrained: ``--weights`` fills it in)."""
    return Denoiser()


def sine_disk_1() -> nn.Module:
    """The demo's robust deterministic estimator ``X̂_1`` ([O23] §4)."""
    from stochrobust.toy import SineDisk

    return SineDisk(1.0)


def sine_disk_50() -> nn.Module:
    """The demo's erratic deterministic estimator ``X̂_50`` ([O23] §4)."""
    from stochrobust.toy import SineDisk

    return SineDisk(50.0)


def _plot_tiles(path: Path, *rows: torch.Tensor) -> None:
    """Noisy, denoised and clean held-out tiles, one row each."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.6 * rows[0].shape[0], 1.7 * len(rows)), layout="constrained")
    for r, (label, row) in enumerate(zip(("noisy y", "G(y)", "clean x"), rows, strict=True)):
        for c, tile in enumerate(row):
            ax = fig.add_subplot(len(rows), row.shape[0], r * row.shape[0] + c + 1)
            ax.imshow(tile.permute(1, 2, 0).numpy())
            ax.set_axis_off()
            if c == 0:
                ax.set_title(label, fontsize=9, loc="left")
    fig.savefig(path, dpi=80)


def main() -> None:
    from _photos import load_photos, split_tiles  # only the script needs the photos
    from PIL import Image

    from stochrobust.toy import sample_disk

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 training steps (smoke test)")
    parser.add_argument("--out", default="audit-walkthrough", help="output folder")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    train, held = split_tiles(load_photos(), TILE)
    net = Denoiser()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    steps = 30 if args.quick else 600
    for _ in range(steps):
        x = train[torch.randint(len(train), (32,), generator=gen)]
        y = x + SIGMA * torch.randn(x.shape, generator=gen)
        loss = (net(y) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    x = held[torch.randperm(len(held), generator=gen)[:12]]
    y = (x + SIGMA * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    y = (y * 255).round() / 255  # what the PNG files hold
    with torch.no_grad():
        denoised = net(y).clamp(0, 1)
    mse_in, mse_out = (y - x).pow(2).mean().item(), (denoised - x).pow(2).mean().item()
    torch.save({"model": net.state_dict(), "step": steps, "sigma": SIGMA}, out / "denoiser.pt")
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.export.export(net, (y[:2],), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(out / "denoiser.pt2"))
    tiles = out / "noisy_tiles"
    tiles.mkdir(exist_ok=True)
    for i, t in enumerate(y):
        arr = (t.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        Image.fromarray(arr, mode="RGB").save(tiles / f"tile_{i:02d}.png")
    _, y_disk = sample_disk(64, generator=torch.Generator().manual_seed(1))
    import numpy as np

    np.save(out / "disk_y.npy", y_disk.numpy().astype(np.float32))
    _plot_tiles(out / "denoiser_examples.png", y[:6], denoised[:6], x[:6])
    summary = {"steps": steps, "held_out_mse_noisy": mse_in, "held_out_mse_denoised": mse_out}
    (out / "walkthrough.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    print(f"wrote {out}/denoiser.pt, denoiser.pt2, noisy_tiles/, disk_y.npy")


if __name__ == "__main__":
    main()
