from __future__ import annotations

import math
import warnings

import pytest
import torch

import stochrobust as sr
from stochrobust import errors
from stochrobust._checks import (
    check_data_range,
    check_eps,
    check_features,
    check_image,
    check_int,
    check_number,
    check_probability,
)
from stochrobust.errors import (
    NonFiniteError,
    RangeError,
    ShapeError,
    StochRobustError,
    StochRobustTypeError,
)
from stochrobust.sensitivity import PGD, RobustnessRegularizer, robustness, sensitivity_at
from stochrobust.smoothing import MedianSmoothing, sample_noisy_outputs


def test_errors_are_builtin_subclasses() -> None:
    assert issubclass(ShapeError, ValueError) and issubclass(ShapeError, StochRobustError)
    assert issubclass(StochRobustTypeError, TypeError)


# The errors stochrobust 0.1 defined in stochrobust._checks (its __all__ in 0.1.0).
ERRORS_01 = (
    "ModelError",
    "NonFiniteError",
    "RangeError",
    "ShapeError",
    "StochRobustError",
    "StochRobustTypeError",
)


@pytest.mark.parametrize("name", ERRORS_01)
def test_the_01_spelling_of_an_error_still_resolves_and_warns(name: str) -> None:
    import stochrobust._checks as checks

    assert name not in vars(checks)  # only the module __getattr__ serves the old spelling
    with pytest.warns(DeprecationWarning, match=rf"use stochrobust\.errors\.{name}$") as rec:
        cls = getattr(checks, name)
    assert cls is getattr(errors, name)
    assert [w.filename for w in rec] == [__file__]  # attributed to the caller
    namespace: dict[str, object] = {}
    with pytest.warns(DeprecationWarning, match=rf"stochrobust\._checks\.{name} is deprecated"):
        exec(f"from stochrobust._checks import {name}", namespace)  # the 0.1 import statement
    assert namespace[name] is cls


def test_only_the_01_errors_have_an_old_spelling() -> None:
    import stochrobust._checks as checks

    assert "frozen" in checks.__all__ and not set(checks.__all__) & set(errors.__all__)
    for name in ("ConvergenceWarning", "StochRobustWarning", "nope"):  # never in 0.1's _checks
        with pytest.raises(AttributeError, match=f"_checks' has no attribute '{name}'"):
            getattr(checks, name)


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


# ------------------------------------------------------------------ issue 14 regressions


def test_check_data_range() -> None:
    y = torch.tensor([[0.0, 255.0]])
    with pytest.raises(
        RangeError, match=r"y: expected values in \[0, data_range\] = \[0, 1\].*data_range=None"
    ):
        check_data_range(y, 1.0)
    assert check_data_range(y, 255) == 255.0 and check_data_range(y, None) is None
    with pytest.raises(RangeError, match="data_range"):
        check_data_range(y, 0.0)


def test_one_dimensional_and_unbatched_inputs_are_refused() -> None:
    with pytest.raises(
        ShapeError, match=r"y: expected a batch \(B, \*in_shape\).*got shape \(4,\)"
    ):
        sensitivity_at(lambda y: y, torch.rand(4), 0.1)
    with pytest.raises(ShapeError, match=r"y\[:, None\]"):
        sr.Estimator(lambda y: y)(torch.rand(4))
    conv = torch.nn.Conv2d(3, 2, 3, padding=1)
    with pytest.raises(ShapeError, match=r"reads 3 channels.*y.unsqueeze\(0\)"):
        sensitivity_at(conv, torch.rand(3, 8, 8), 0.1)  # one RGB image without its batch


def test_inference_mode_and_tiny_eps_are_named() -> None:
    with torch.inference_mode():
        y = torch.rand(2, 3)
        with pytest.raises(StochRobustError, match=r"inside it; the attacks need gradients"):
            sensitivity_at(lambda v: 2 * v, y, 0.1)
    with pytest.raises(StochRobustTypeError, match="y: expected a normal tensor, got an inference"):
        sensitivity_at(lambda v: 2 * v, y, 0.1)
    y32 = torch.full((2, 16), 0.5)  # float32 spacing near 0.5 is 6e-8
    with pytest.raises(RangeError, match=r"eps: expected a radius that changes y.*float64"):
        sensitivity_at(lambda v: 2 * v, y32, 1e-9)
    ok = sensitivity_at(
        lambda v: 2 * v, y32.double(), 1e-9, generator=torch.Generator().manual_seed(0)
    )
    assert float(ok.norm.max()) == pytest.approx(2e-9, rel=1e-3)  # eq. 2: eps * sigma_max


def test_a_seed_batch_of_one_is_not_broadcast() -> None:
    est = sr.Estimator(lambda y, z: y + z, seed_shape=(3,))
    with pytest.raises(ShapeError, match=r"z: expected seeds with leading dimension B = 4"):
        est(torch.zeros(4, 3), torch.zeros(1, 3))


def test_regulariser_validates_skipped_calls() -> None:
    reg = RobustnessRegularizer(0.1, every=2)
    net = torch.nn.Linear(3, 3)
    with pytest.raises(NonFiniteError, match="y"):
        reg(net, torch.full((2, 3), float("nan")))  # call 1: skipped, still checked
    with pytest.raises(StochRobustTypeError, match="y: expected a torch.Tensor"):
        reg(net, [[0.0, 1.0, 2.0]])  # type: ignore[arg-type]


def test_psnr_fields_are_detached_and_follow_data_range() -> None:
    y = torch.rand(3, 4, requires_grad=True)
    res = sensitivity_at(lambda v: 2 * v, y, 0.1, generator=torch.Generator().manual_seed(0))
    assert not res.input_psnr.requires_grad and not res.output_psnr.requires_grad
    # PSNR is scale-equivariant: [0, 255] data with data_range=255 and a 255x radius gives
    # the same PSNRs as [0, 1] data with data_range=1 (closed form for a linear model).
    y1 = torch.rand(3, 4, dtype=torch.float64)
    a = sensitivity_at(lambda v: 2 * v, y1, 0.1, generator=torch.Generator().manual_seed(1))
    b = sensitivity_at(
        lambda v: 2 * v, 255 * y1, 25.5, data_range=255, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(a.output_psnr, b.output_psnr)
    torch.testing.assert_close(a.input_psnr, b.input_psnr)
    with pytest.raises(RangeError, match="data_range=None"):
        sensitivity_at(lambda v: 2 * v, 255 * y1, 25.5)
    none = sensitivity_at(lambda v: 2 * v, y1 - 5, 0.1, data_range=None)
    assert bool(none.output_psnr.isnan().all() and none.input_psnr.isnan().all())
    rep = robustness(
        lambda v: 2 * v, 255 * y1, 25.5, data_range=255, progress=False, solver=PGD(steps=3),
        generator=torch.Generator().manual_seed(2),
    )  # fmt: skip
    ref = robustness(
        lambda v: 2 * v, y1, 0.1, progress=False, solver=PGD(steps=3),
        generator=torch.Generator().manual_seed(2),
    )  # fmt: skip
    assert rep.mean_output_psnr == pytest.approx(ref.mean_output_psnr, rel=1e-9)
    with pytest.raises(RangeError, match=r"^data: expected values in \[0, data_range\]"):
        robustness(lambda v: 2 * v, 255 * y1, 25.5, progress=False)  # named as the user did


def test_smoothing_takes_stochastic_estimators_fused_with_the_noise() -> None:
    est = sr.Estimator(lambda y, z: y + z, seed_shape=(2,))
    y = torch.rand(3, 2, dtype=torch.float64)
    out = sample_noisy_outputs(est, y, 0.1, 4, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)  # the documented order: noise rows, then seeds
    noise = torch.randn(12, 2, generator=g, dtype=torch.float64).reshape(3, 4, 2)
    seeds = torch.randn(12, 2, generator=g, dtype=torch.float64).reshape(3, 4, 2)
    torch.testing.assert_close(out, y[:, None] + 0.1 * noise + seeds)
    med = MedianSmoothing(est, 0.1, n_samples=5)(y, generator=torch.Generator().manual_seed(0))
    assert med.shape == (3, 2)


def test_smoothing_raises_on_non_finite_outputs() -> None:
    with pytest.raises(NonFiniteError, match="model output"):
        MedianSmoothing(lambda v: v / 0 * 0, 0.1, n_samples=3)(torch.rand(2, 3))


def test_deprecated_smoothing_spellings_warn_and_agree() -> None:
    y = torch.rand(2, 3)
    new = sample_noisy_outputs(
        torch.nn.Identity(), y, 0.5, 3, box=(0.0, 1.0), generator=torch.Generator().manual_seed(0)
    )
    with pytest.warns(DeprecationWarning, match="clip= is deprecated since 0.2, use box="):
        old = sample_noisy_outputs(
            torch.nn.Identity(),
            y,
            0.5,
            3,
            clip=(0.0, 1.0),
            generator=torch.Generator().manual_seed(0),
        )
    assert torch.equal(new, old)
    with pytest.warns(DeprecationWarning, match="x= is deprecated since 0.2, use y="):
        sample_noisy_outputs(torch.nn.Identity(), x=y, sigma=0.5, n_samples=2)
    with pytest.warns(DeprecationWarning, match="use MedianSmoothing.box"):
        assert MedianSmoothing(torch.nn.Identity(), 0.1, box=(0.0, 1.0)).clip == (0.0, 1.0)
    with pytest.raises(StochRobustTypeError, match="box: expected one of box= and its deprecated"):
        sample_noisy_outputs(torch.nn.Identity(), y, 0.5, 2, box=(0, 1), clip=(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MedianSmoothing(torch.nn.Identity(), 0.1, box=(0.0, 1.0))(y)
