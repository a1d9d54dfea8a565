"""Median smoothing ([C24] §4): fused ``MedianSmoothing`` vs a Python loop over the samples.

Base model: ``UNet(s=8, depth=2)`` used deterministically (``Z = 0``), eval mode, under
``torch.no_grad()`` (inference). Two settings:

- ``n21``: CertSR's 21 samples, ``B = 4`` inputs of 3×64×64 — one fused call of 84 rows vs
  21 calls of 4 rows;
- ``n2000``: 2 000 samples (certificate-sized), ``B = 1`` input of 3×32×32, fused in chunks
  of ``max_batch = 250`` rows vs 2 000 calls of one row.

The loop draws the same noise (row ``b·n + k`` of one ``randn((B·n, …))`` draw), evaluates
``model(x + σ·g_k)`` sample by sample, stacks and takes the same order statistic
``X(⌈n/2⌉)``; ``max_abs_diff_*`` checks that both give the same median. At ``n = 21`` a
third variant, ``chunked``, passes ``max_batch = 21`` (one input's samples per call: the
CPU remedy for the allocator's page faults, see ``RESULTS.md``). ``--quick`` uses
32×32 / 16×16 images and ``n = 500`` instead of 2 000.
"""

from __future__ import annotations

import math

import torch
from _common import interleaved, row

from stochrobust.nets import UNet
from stochrobust.smoothing import MedianSmoothing

NAME = "median_smoothing"
SIGMA = 0.05


def loop_median(
    model: torch.nn.Module, x: torch.Tensor, n: int, g: torch.Generator
) -> torch.Tensor:
    """The per-sample loop with the library's noise convention and median index."""
    batch = x.shape[0]
    noise = torch.randn((batch * n, *x.shape[1:]), generator=g, device=g.device).to(x.device)
    noise = noise.reshape(batch, n, *x.shape[1:])
    outs = torch.stack([model(x + SIGMA * noise[:, k]) for k in range(n)], dim=1)
    return outs.movedim(1, -1).kthvalue(math.ceil(0.5 * n), dim=-1).values


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Measure both settings; see the module docstring."""
    torch.manual_seed(0)
    model = UNet(s=8, depth=2).to(device).eval()
    settings = [
        (21, 4, 32 if quick else 64, None),
        (500 if quick else 2000, 1, 16 if quick else 32, 250),
    ]
    repeats = 2 if quick else 5
    rows: list[dict] = []
    for n, batch, size, max_batch in settings:
        x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1)).to(device)
        smooth = MedianSmoothing(model, SIGMA, n_samples=n, max_batch=max_batch)

        def gen() -> torch.Generator:
            return torch.Generator(device=device).manual_seed(5)

        variants = {
            "fused": lambda smooth=smooth, x=x: smooth(x, generator=gen()),
            "loop": lambda x=x, n=n: loop_median(model, x, n, gen()),
        }
        if max_batch is None and batch > 1:  # the CPU remedy: one input's samples per call
            per_input = MedianSmoothing(model, SIGMA, n_samples=n, max_batch=n)
            variants["chunked"] = lambda per_input=per_input, x=x: per_input(x, generator=gen())
        with torch.no_grad():
            times = interleaved(variants, repeats, device)
            diff = (smooth(x, generator=gen()) - loop_median(model, x, n, gen())).abs().max()
        tag = f"n{n}"
        target = None if quick or torch.device(device).type == "cuda" else 1.05
        rows.append(row(NAME, f"fused_over_loop_{tag}", times["fused"] / times["loop"], target))
        if "chunked" in times:
            rel = times["chunked"] / times["loop"]
            rows.append(row(NAME, f"chunked{n}_over_loop_{tag}", rel, target))
        rows += [row(NAME, f"seconds_{name}_{tag}", seconds) for name, seconds in times.items()]
        rows.append(row(NAME, f"max_abs_diff_{tag}", float(diff), 1e-4))
    return rows
