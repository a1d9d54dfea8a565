from __future__ import annotations

import math

import pytest
import torch

from stochrobust._checks import (
    NonFiniteError,
    RangeError,
    ShapeError,
    StochRobustError,
    StochRobustTypeError,
    check_eps,
    check_features,
    check_image,
    check_int,
    check_number,
    check_probability,
)


def test_errors_are_builtin_subclasses() -> None:
    assert issubclass(ShapeError, ValueError) and issubclass(ShapeError, StochRobustError)
    assert issubclass(StochRobustTypeError, TypeError)


def test_messages_name_argument_expectation_and_value() -> None:
    with pytest.raises(
        ShapeError, match=r"x: expected a 4-D tensor \(N, C, H, W\), got shape \(2, 3\)"
    ):
        check_image(torch.zeros(2, 3), "x")
    with pytest.raises(NonFiniteError, match="x: expected finite values, got 0 NaN and 1 Inf"):
        check_image(torch.tensor([math.inf]).reshape(1, 1, 1, 1), "x")
    with pytest.raises(ShapeError, match="feats"):
        check_features(torch.zeros(0, 3), "feats")
    with pytest.raises(RangeError, match=r"sigma: expected a number in \(0, inf\), got 0"):
        check_number(0.0, "sigma", low=0.0, low_inclusive=False)
    with pytest.raises(RangeError, match=r"alpha: expected a number in \(0, 1\), got 1"):
        check_probability(1.0, "alpha")
    with pytest.raises(StochRobustTypeError, match="k: expected an integer, got bool"):
        check_int(True, "k")
    with pytest.raises(StochRobustTypeError, match="eps: expected a real number"):
        check_eps("a", 2)  # type: ignore[arg-type]
    assert check_eps(torch.tensor([1, 2]), 2).tolist() == [1, 2]
    assert check_number(torch.tensor(0.5), "p") == 0.5
