"""Overhead of ``sensitivity_at`` over the bare model work it cannot avoid.

Reference work for ``B`` inputs, ``K`` seeds and ``T`` Adam steps: one no-grad forward of the
fused ``(B·K)`` batch (the clean outputs) plus ``T`` forward+backward passes with respect to
the input only (parameters frozen). ``sensitivity_at`` adds one final no-grad forward (the
last iterate) and its bookkeeping. Prints the ratio; the target is ≤ 1.10.

Run: ``PYTHONPATH=. python benchmarks/sensitivity_overhead.py [--device cuda] [--size 64]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from stochrobust import Estimator, frozen
from stochrobust.sensitivity import AdamAscent, sensitivity_at


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
        )  # fmt: skip


class UNet(nn.Module):
    """A small U-Net in the spirit of [O23] Fig. 7: the seed enters as extra channels."""

    def __init__(self, s: int = 16, channels: int = 3) -> None:
        super().__init__()
        self.d1 = DoubleConv(2 * channels, s)
        self.d2 = DoubleConv(s, 2 * s)
        self.d3 = DoubleConv(2 * s, 4 * s)
        self.u2 = DoubleConv(6 * s, 2 * s)
        self.u1 = DoubleConv(3 * s, s)
        self.last = nn.Conv2d(s, channels, 1)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h1 = self.d1(torch.cat([y, z], 1))
        h2 = self.d2(nn.functional.max_pool2d(h1, 2))
        h3 = self.d3(nn.functional.max_pool2d(h2, 2))
        up = nn.functional.interpolate
        g2 = self.u2(torch.cat([up(h3, scale_factor=2.0), h2], 1))
        g1 = self.u1(torch.cat([up(g2, scale_factor=2.0), h1], 1))
        out: torch.Tensor = self.last(g1)
        return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = UNet(args.width).to(device).train()
    est = Estimator(net, seed_shape=(3, args.size, args.size))
    y = torch.rand(args.batch, 3, args.size, args.size, device=device)
    solver = AdamAscent(steps=args.steps)

    def reference() -> None:
        with torch.no_grad():
            seeds = est.sample_seeds(y, args.seeds)
            yk = y.repeat_interleave(args.seeds, 0)
            zk = seeds.flatten(0, 1)
            clean = net(yk, zk)
        delta = torch.zeros_like(y)
        for _ in range(args.steps):
            d = delta.requires_grad_(True)
            out = net((y + d).repeat_interleave(args.seeds, 0), zk)
            (g,) = torch.autograd.grad((out - clean).pow(2).sum(), d)
            delta = (d + g).detach()

    def ours() -> None:
        sensitivity_at(est, y, 0.5, n_seeds=args.seeds, solver=solver)

    def reference_frozen() -> None:
        with frozen(net):  # the same eval-mode, frozen-parameter model the attack sees
            reference()

    runs = {"reference": reference_frozen, "sensitivity_at": ours}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for fn in runs.values():
        fn()  # warm-up
    for _ in range(args.repeats):
        for name, fn in runs.items():
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - t)
    ref, got = statistics.median(times["reference"]), statistics.median(times["sensitivity_at"])
    print(
        f"device={device} B={args.batch} K={args.seeds} steps={args.steps} "
        f"size={args.size} width={args.width} threads={torch.get_num_threads()}"
    )
    print(f"reference (1 fwd + {args.steps} fwd/bwd wrt input): {ref * 1e3:.1f} ms")
    print(f"sensitivity_at:                          {got * 1e3:.1f} ms")
    print(f"ratio: {got / ref:.3f}   (target <= 1.10)")


if __name__ == "__main__":
    main()
