from __future__ import annotations

import importlib
import math
import sys

import pytest
import torch
from hypothesis import find, given
from hypothesis import strategies as st

from stochrobust import RangeError, StochRobustTypeError
from stochrobust.consistency import AvgPoolDownsample, Inpainting
from stochrobust.sensitivity import project_ball
from stochrobust.testing.strategies import (
    images,
    inpainting_masks,
    perturbations,
    sr_scales_and_images,
)

ORDERS = {"l2": 2.0, "l1": 1.0, "linf": float("inf")}


def row_norms(d: torch.Tensor, norm: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row norm in the tensor's dtype and in float64 (exact for float32 values)."""
    flat = d.flatten(1)
    return (
        torch.linalg.vector_norm(flat, ORDERS[norm], dim=1),
        torch.linalg.vector_norm(flat.double(), ORDERS[norm], dim=1),
    )


# ---------------------------------------------------------------- images
@given(
    images(
        batch=(1, 3), channels=(1, 3), height=(2, 9), width=5, dtype=(torch.float32, torch.float64)
    )
)
def test_images_in_range_and_shape(x) -> None:
    assert x.ndim == 4 and 1 <= x.shape[0] <= 3 and 1 <= x.shape[1] <= 3
    assert 2 <= x.shape[2] <= 9 and x.shape[3] == 5
    assert x.dtype in (torch.float32, torch.float64) and x.device.type == "cpu"
    assert bool((x >= 0).all()) and bool((x <= 1).all())


def test_images_reach_every_size_dtype_and_both_ends() -> None:
    strat = images(batch=(1, 2), channels=(1, 3), height=(4, 6), width=(4, 6),
                   dtype=(torch.float32, torch.float64))  # fmt: skip
    find(strat, lambda x: x.shape == (2, 3, 6, 6) and x.dtype == torch.float64)
    find(strat, lambda x: x.shape == (1, 1, 4, 4) and x.dtype == torch.float32)
    find(strat, lambda x: bool((x == 0).any()) and bool((x == 1).any()))  # binary images
    find(strat, lambda x: 0 < float(x.std()) and bool((x != x.round()).any()))  # noise


@given(images(kinds=("constant",), batch=1, channels=1, height=2, width=2))
def test_constant_images(x) -> None:
    assert bool((x == x.flatten()[0]).all())


def test_images_argument_errors() -> None:
    with pytest.raises(RangeError, match="height"):
        images(height=0)
    with pytest.raises(RangeError, match="width"):
        images(width=(5, 2))
    with pytest.raises(StochRobustTypeError, match="dtype"):
        images(dtype=torch.int64)
    with pytest.raises(StochRobustTypeError, match="kinds"):
        images(kinds=("stripes",))  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="batch"):
        images(batch=(1, 2, 3))  # type: ignore[arg-type]


# ---------------------------------------------------------------- perturbations
@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_perturbations_exactly_inside(norm, dtype) -> None:
    @given(st.data(), st.sampled_from([0.0, 1e-6, 0.3, 1.0, 7.5, 1e4]))
    def check(data, eps) -> None:
        d = data.draw(perturbations((3, 2, 5, 7), eps, norm, dtype=dtype))
        assert d.shape == (3, 2, 5, 7) and d.dtype == dtype
        native, exact = row_norms(d, norm)
        assert bool((native <= eps).all()) and bool((exact <= eps).all())
        # the library's own projection leaves it (numerically) where it is
        assert torch.allclose(project_ball(d, eps, norm), d, rtol=1e-5, atol=0.0)

    check()


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_perturbations_reach_the_boundary_and_the_centre(norm) -> None:
    eps = 0.5
    strat = perturbations((2, 40), eps, norm)
    on_sphere = find(strat, lambda d: bool((row_norms(d, norm)[1] >= eps * (1 - 1e-5)).all()))
    assert bool((row_norms(on_sphere, norm)[1] <= eps).all())
    find(strat, lambda d: bool((d == 0).all()))
    # vertices: one non-zero coordinate per row (L2, L1) or all at ±eps (L-inf)
    if norm == "linf":
        find(strat, lambda d: bool((d.abs() >= eps * (1 - 1e-6)).all()))
    else:
        find(strat, lambda d: bool(((d != 0).sum(1) == 1).all()) and float(d.abs().max()) > 0.49)


def test_perturbations_of_drawn_images() -> None:
    @given(
        images(batch=(1, 3)).flatmap(lambda x: st.tuples(st.just(x), perturbations(x.shape, 0.1)))
    )
    def check(pair) -> None:
        x, d = pair
        assert d.shape == x.shape
        assert bool((d.flatten(1).norm(dim=1) <= 0.1).all())

    check()


def test_perturbations_argument_errors() -> None:
    with pytest.raises(RangeError, match="norm"):
        perturbations((1, 2), 0.1, "l3")
    with pytest.raises(RangeError, match="eps"):
        perturbations((1, 2), -0.1)
    with pytest.raises(StochRobustTypeError, match="shape"):
        perturbations(3, 0.1)  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="shape"):
        perturbations((2, 0), 0.1)


# ---------------------------------------------------------------- masks
@given(inpainting_masks(height=(4, 20), width=(4, 20), kind="upper"))
def test_upper_masks_are_the_papers(mask) -> None:
    h = mask.shape[0]
    masked_rows = math.floor(0.75 * h + 0.5)  # round half up
    assert mask.dtype == torch.bool
    assert not bool(mask[:masked_rows].any()) and bool(mask[masked_rows:].all())
    assert abs(float((~mask).double().mean()) - 0.75) <= 1 / (2 * h) + 1e-12


def test_paper_mask_64() -> None:
    mask = find(inpainting_masks(height=64, width=64, kind="upper"), lambda m: True)
    assert int((~mask).sum()) == 48 * 64 and bool(mask[48:].all())


@given(st.data(), st.floats(0.0, 1.0), st.sampled_from(["random", "upper"]))
def test_mask_fraction(data, frac, kind) -> None:
    mask = data.draw(
        inpainting_masks(height=(1, 12), width=(1, 12), kind=kind, masked_fraction=frac)
    )
    h, w = mask.shape
    tol = 1 / (2 * h * w) if kind == "random" else 1 / (2 * h)
    assert abs(float((~mask).double().mean()) - frac) <= tol + 1e-12
    # usable by the inpainting operator (True = observed)
    x = torch.rand(1, 1, h, w)
    y = Inpainting(mask).A(x)
    assert bool((y[0, 0][~mask] == 0).all()) and torch.equal(y[0, 0][mask], x[0, 0][mask])


def test_random_masks_vary_in_position() -> None:
    strat = inpainting_masks(height=6, width=6, kind="random", masked_fraction=0.5)
    find(strat, lambda m: not bool(m[0, 0]))
    find(strat, lambda m: bool(m[0, 0]))


def test_mask_argument_errors() -> None:
    with pytest.raises(RangeError, match="kind"):
        inpainting_masks(kind="lower")  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="masked_fraction"):
        inpainting_masks(masked_fraction=1.5)
    with pytest.raises(RangeError, match="masked_fraction"):
        inpainting_masks(masked_fraction=(0.8, 0.2))


# ---------------------------------------------------------------- super-resolution
@given(sr_scales_and_images(scales=(2, 3, 4, 8), lr_height=(1, 4), lr_width=(1, 4)))
def test_scale_divides_size(pair) -> None:
    s, x = pair
    assert s in (2, 3, 4, 8)
    assert x.shape[-2] % s == 0 and x.shape[-1] % s == 0
    assert 1 <= x.shape[-2] // s <= 4 and 1 <= x.shape[-1] // s <= 4
    assert bool((x >= 0).all()) and bool((x <= 1).all())
    y = AvgPoolDownsample(s).A(x)
    assert y.shape == (*x.shape[:2], x.shape[-2] // s, x.shape[-1] // s)


def test_sr_argument_errors() -> None:
    with pytest.raises(RangeError, match="scales"):
        sr_scales_and_images(scales=())
    with pytest.raises(RangeError, match="scales"):
        sr_scales_and_images(scales=(0, 2))


# ---------------------------------------------------------------- optional dependency
def test_clear_error_without_hypothesis(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "stochrobust.testing.strategies")
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(ImportError, match=r"needs hypothesis: pip install 'stochrobust\[test\]'"):
        importlib.import_module("stochrobust.testing.strategies")
