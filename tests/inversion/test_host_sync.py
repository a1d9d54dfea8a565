"""No host synchronisation inside the optimisation loops of csgm, ilo and project_to_range.

Three mechanisms:

- the meta device, where every read of a value on the host (``.item()``, ``bool()``,
  ``int()``, ``float()``, ``.tolist()``, ``.cpu()``) raises: a whole inversion that runs
  there, gradients included, reads nothing;
- on CPU, counting the calls of those methods (patched on ``torch.Tensor``) by the file
  that makes them: ``check=False`` runs make none, except the documented CPU-only read of
  :func:`stochrobust.sensitivity.project_l1` that sizes its partial sort;
- on CUDA (where present), torch's sync debug mode set to ``"error"``.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from stochrobust.consistency import AvgPoolDownsample, Inpainting, LinearOperator, PartialCirculant
from stochrobust.inversion import LayeredGenerator, csgm, ilo, project_to_range

FAST = {"csgm_steps": 2, "steps_per_layer": 2, "project_back_steps": 2, "rounds": 2}
PACKAGE = Path(sys.modules["stochrobust"].__file__ or "").resolve().parent
READS = ("item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__")


def _operators(device: str) -> list[tuple[LinearOperator, tuple[int, ...]]]:
    return [
        (Inpainting(torch.ones(8, 8, dtype=torch.bool)).to(device), (2, 1, 8, 8)),
        (AvgPoolDownsample(4), (2, 1, 2, 2)),
        (
            PartialCirculant((1, 8, 8), 16, generator=torch.Generator().manual_seed(0)).to(device),
            (2, 16),
        ),
    ]


@pytest.mark.slow
def test_whole_inversions_run_on_the_meta_device() -> None:
    # Meta kernels cost ~1.5 ms of Python per op: few steps (still >= 2 per loop), and the
    # unrolled path (the one attacks take) only for ×4 SR; the CPU test covers the others.
    net = LayeredGenerator(4, (16, 32), (1, 8, 8)).to("meta")
    z0 = torch.empty(2, 3, 4, device="meta")
    for index, (op, y_shape) in enumerate(_operators("meta")):
        grad = index == 1
        y = torch.empty(y_shape, device="meta", requires_grad=grad)
        res_c = csgm(net, op, y, z0=z0, steps=2, noise_std=0.1, check=False)
        fast = FAST if grad else {**FAST, "rounds": 1}
        res_i = ilo(net.layers, op, y, z0=z0, noise_std=0.1, check=False, splits=[2], **fast)
        assert res_c.x_hat.device.type == res_i.x_hat.device.type == "meta"
        assert res_i.x_hat.requires_grad == grad
        if grad:
            (g,) = torch.autograd.grad(res_i.x_hat.sum(), y)
            assert g.shape == y.shape
    with pytest.raises(RuntimeError, match="meta"):  # the mechanism does catch reads
        bool(res_i.loss.sum() > 0)


@contextmanager
def _count_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()

    def wrap(name: str, method: Callable[..., object]) -> Callable[..., object]:
        def reading(self: torch.Tensor, *args: object, **kwargs: object) -> object:
            frame = sys._getframe(1)
            where = "outside stochrobust"
            while frame is not None:
                path = Path(frame.f_code.co_filename).resolve()
                if PACKAGE in path.parents:
                    where = str(path.relative_to(PACKAGE))
                    break
                frame = frame.f_back  # type: ignore[assignment]
            counts[where] += 1
            return method(self, *args, **kwargs)

        return reading

    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, wrap(name, getattr(torch.Tensor, name)))
    yield counts
    monkeypatch.undo()


def test_cpu_runs_read_nothing_but_the_l1_partial_sort_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = LayeredGenerator(4, (16, 32), (1, 8, 8), generator=torch.Generator().manual_seed(0))
    z0 = torch.randn(2, 3, 4)
    target, u0 = torch.randn(6, 16), torch.randn(6, 4)
    for op, y_shape in _operators("cpu"):
        y = torch.rand(y_shape)
        with _count_reads(monkeypatch) as counts:
            csgm(net, op, y, z0=z0, steps=10, noise_std=0.1, check=False)
            csgm(net, op, y.clone().requires_grad_(), z0=z0, steps=10, check=False)
            project_to_range(net.layers[0], target, u0, radius=3.0, steps=10, check=False)
            assert not counts, counts
            ilo(net.layers, op, y, z0=z0, noise_std=0.1, check=False, **FAST)
            ilo(net.layers, op, y.clone().requires_grad_(), z0=z0, check=False, **FAST)
        assert set(counts) == {"sensitivity/projections.py"}, counts
    with _count_reads(monkeypatch) as counts:  # the counter sees reads where there are some
        csgm(net, op, y, z0=z0, steps=2, check=True)
    assert counts


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_sync_debug_mode_raises_on_no_sync() -> None:
    net = LayeredGenerator(4, (16, 32), (1, 8, 8)).cuda()
    y = torch.rand(2, 1, 2, 2, device="cuda")
    z0 = torch.randn(2, 3, 4, device="cuda")
    op = AvgPoolDownsample(4)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        csgm(net, op, y, z0=z0, steps=5, check=False)
        ilo(net.layers, op, y, z0=z0, check=False, **FAST)
        ilo(net.layers, op, y.requires_grad_(), z0=z0, check=False, **FAST)
    finally:
        torch.cuda.set_sync_debug_mode("default")
