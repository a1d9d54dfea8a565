"""check_linear_operator: passes on every operator of the library and on a user operator
written against public names only; fails (AssertionError naming the check) on operators
broken in each way it claims to detect."""

from __future__ import annotations

import pytest
import torch

from stochrobust.consistency import (
    AvgPoolDownsample,
    BlurDownsample,
    Colorization,
    Downsampling,
    Inpainting,
    LinearOperator,
    PartialCirculant,
)
from stochrobust.errors import ShapeError, StochRobustTypeError
from stochrobust.sensitivity import sensitivity_at
from stochrobust.testing import check_linear_operator


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mask() -> torch.Tensor:
    return torch.rand(1, 1, 6, 6, generator=_gen(3)) < 0.6


OPERATORS = {
    "inpainting": (lambda: Inpainting(_mask()), (2, 3, 6, 6)),
    "avgpool": (lambda: AvgPoolDownsample(3), (2, 1, 6, 9)),
    "blur": (lambda: BlurDownsample(torch.rand(5, 4, generator=_gen(1)) + 0.1, 2), (2, 3, 8, 6)),
    "circulant": (lambda: PartialCirculant((1, 6, 6), 17, generator=_gen(2)), (3, 1, 6, 6)),
    "colorization": (lambda: Colorization(), (2, 3, 5, 4)),
}


@pytest.mark.parametrize("kind", sorted(OPERATORS))
def test_every_library_operator_passes(kind: str) -> None:
    make, shape = OPERATORS[kind]
    errors = check_linear_operator(make(), shape, generator=_gen())
    assert set(errors) == {
        "shape", "linearity", "adjointness", "pinv", "consistency", "idempotence",
        "orthogonality",
    }  # fmt: skip
    assert max(errors.values()) <= 1e-8


@pytest.mark.parametrize("kind", sorted(OPERATORS))
def test_float32_uses_a_float32_tolerance(kind: str) -> None:
    make, shape = OPERATORS[kind]
    errors = check_linear_operator(make(), shape, dtype=torch.float32, generator=_gen())
    assert max(errors.values()) <= 1e-4


class EveryOther(Downsampling):
    """A user operator written against public names only: keep one pixel per block."""

    def apply_A(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :: self.scale, :: self.scale]

    def apply_A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        out = y.new_zeros(*y.shape[:2], y.shape[2] * self.scale, y.shape[3] * self.scale)
        out[..., :: self.scale, :: self.scale] = y
        return out


def test_a_user_operator_passes_and_works_in_an_attack() -> None:
    op = EveryOther(2)
    errors = check_linear_operator(op, (2, 2, 6, 4), generator=_gen())
    assert max(errors.values()) <= 1e-8
    # The operator's A is linear with operator norm 1: eq. 2 of G = A is exactly eps.
    y = torch.rand(3, 2, 6, 4, dtype=torch.float64, generator=_gen(5))
    res = sensitivity_at(op, y, 0.1, generator=_gen(6))
    assert torch.allclose(res.value.sqrt(), torch.full((3,), 0.1, dtype=torch.float64), rtol=1e-3)


class _Broken(AvgPoolDownsample):
    def __init__(self, fault: str) -> None:
        super().__init__(2)
        self.fault = fault

    def apply_A(self, x: torch.Tensor) -> torch.Tensor:
        out = super().apply_A(x)
        return out + 0.1 * out.pow(2) if self.fault == "nonlinear" else out

    def apply_A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        out = super().apply_A_adjoint(y)
        return 1.5 * out if self.fault == "adjoint" else out

    def apply_A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        out = super().apply_A_pinv(y)
        return 0.9 * out if self.fault == "pinv" else out

    def apply_project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.fault == "project_inconsistent":
            return x
        if self.fault == "project_oblique":
            # consistent and idempotent, but not orthogonal: moves only the top-left pixel
            r = y - self.apply_A(x)
            out = x.clone()
            out[..., ::2, ::2] += 4 * r
            return out
        return super().apply_project(x, y)


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("nonlinear", "linearity"),
        ("adjoint", "adjointness"),
        ("pinv", "pinv"),
        ("project_inconsistent", "consistency"),
        ("project_oblique", "orthogonality"),
    ],
)
def test_each_fault_is_detected_by_its_check(fault: str, check: str) -> None:
    with pytest.raises(AssertionError, match=check) as info:
        check_linear_operator(_Broken(fault), (2, 1, 4, 4), generator=_gen())
    assert "_Broken" in str(info.value)


def test_bad_arguments_raise_typed_errors() -> None:
    with pytest.raises(StochRobustTypeError, match="op: expected"):
        check_linear_operator(torch.nn.Identity(), (1, 1, 2, 2))  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="dtype: expected"):
        check_linear_operator(AvgPoolDownsample(2), (1, 1, 2, 2), dtype=torch.int64)
    with pytest.raises(ShapeError, match="shape"):
        check_linear_operator(AvgPoolDownsample(2), (1, 1, 3, 3))


def test_the_check_is_deterministic_given_the_generator() -> None:
    op = BlurDownsample(torch.rand(3, 3, generator=_gen(1)) + 0.1, 2)
    a = check_linear_operator(op, (1, 1, 6, 6), generator=_gen(9))
    b = check_linear_operator(op, (1, 1, 6, 6), generator=_gen(9))
    assert a == b


def test_linear_operator_is_the_base_of_downsampling() -> None:
    assert issubclass(Downsampling, LinearOperator)
    assert issubclass(AvgPoolDownsample, Downsampling)
    assert issubclass(BlurDownsample, Downsampling)


def test_operators_written_with_the_old_hook_names_still_work_and_warn() -> None:
    with pytest.warns(DeprecationWarning, match="apply_A"):

        class OldStyle(LinearOperator):
            def range_shape(self, shape, name="x"):  # type: ignore[no-untyped-def]
                return tuple(shape)

            def domain_shape(self, shape, name="y"):  # type: ignore[no-untyped-def]
                return tuple(shape)

            def _A(self, x: torch.Tensor) -> torch.Tensor:
                return 2 * x

            def _At(self, y: torch.Tensor) -> torch.Tensor:
                return 2 * y

    op = OldStyle()
    x = torch.ones(1, 1, 2, 2, dtype=torch.float64)
    assert torch.equal(op.A(x), 2 * x)
    assert max(check_linear_operator(op, (1, 1, 2, 2), generator=_gen()).values()) <= 1e-8
