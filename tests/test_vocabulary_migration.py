"""The 0.1 spellings renamed by the glossary still work for one release and warn.

Each old spelling must give the same result as the new one (same generator state), raise a
``DeprecationWarning`` that names the new spelling, and refuse to be combined with it.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from stochrobust import Estimator, StochRobustTypeError
from stochrobust._deprecate import keyword_only_generator
from stochrobust.consistency import PartialCirculant
from stochrobust.metrics import dataset_per_pixel_std
from stochrobust.smoothing import (
    MedianSmoothing,
    certified_indices,
    certified_radius,
    noise_augment,
    percentile_index,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _stochastic() -> Estimator:
    return Estimator(lambda y, z: y + z, seed_shape=(3,))


def test_estimator_n_and_positional_generator() -> None:
    est, y = _stochastic(), torch.zeros(2, 3)
    new = est.sample(y, n_seeds=4, generator=gen(1))
    with pytest.warns(DeprecationWarning, match=r"Estimator.sample: the argument n= .* n_seeds="):
        assert torch.equal(est.sample(y, n=4, generator=gen(1)), new)
    with pytest.warns(DeprecationWarning, match="passing generator positionally .* generator="):
        assert torch.equal(est.sample(y, 4, gen(1)), new)
    seeds = est.sample_seeds(y, n_seeds=4, generator=gen(2))
    with pytest.warns(DeprecationWarning, match="Estimator.sample_seeds: the argument n="):
        assert torch.equal(est.sample_seeds(y, n=4, generator=gen(2)), seeds)
    with pytest.warns(DeprecationWarning, match="Estimator.sample_seeds: passing generator"):
        assert torch.equal(est.sample_seeds(y, 4, gen(2)), seeds)
    with pytest.raises(StochRobustTypeError, match="n_seeds: expected one of n_seeds= and"):
        est.sample(y, n=4, n_seeds=4)
    with pytest.raises(StochRobustTypeError, match="generator: expected it once"):
        est.sample(y, 4, gen(1), generator=gen(1))


def test_certificate_functions_n_is_n_samples() -> None:
    with pytest.warns(DeprecationWarning, match="certified_indices: .* use n_samples="):
        assert certified_indices(n=2000, eps=0.36, sigma=0.25, alpha=1e-5) == certified_indices(
            n_samples=2000, eps=0.36, sigma=0.25, alpha=1e-5
        )
    with pytest.warns(DeprecationWarning, match="certified_radius: .* use n_samples="):
        assert certified_radius(n=500, sigma=0.25, alpha=1e-3) == certified_radius(500, 0.25, 1e-3)
    with pytest.warns(DeprecationWarning, match="percentile_index: .* use n_samples="):
        assert percentile_index(n=21) == percentile_index(n_samples=21) == 11


def test_smoothing_certificate_n_field() -> None:
    m = MedianSmoothing(torch.nn.Identity(), sigma=0.25)
    cert = m.certify(torch.zeros(1, 2), eps=0.1, n_samples=300, generator=gen(3))
    assert cert.n_samples == 300
    with pytest.warns(DeprecationWarning, match="SmoothingCertificate.n_samples"):
        assert cert.n == 300


def test_median_smoothing_positional_generator() -> None:
    m = MedianSmoothing(lambda t: t * t, sigma=0.3, n_samples=7)
    y = torch.rand(2, 3, generator=gen(4))
    cases = [
        (lambda g: m(y, generator=g), lambda g: m(y, g)),
        (lambda g: m.sample(y, 5, generator=g), lambda g: m.sample(y, 5, g)),
        (lambda g: m.percentile(y, 0.3, 9, generator=g), lambda g: m.percentile(y, 0.3, 9, g)),
    ]
    for new, old in cases:
        with pytest.warns(DeprecationWarning, match="passing generator positionally"):
            assert torch.equal(old(gen(5)), new(gen(5)))
    a = m.certify(y, 0.05, 200, 1e-3, False, 0.5, generator=gen(6))
    with pytest.warns(DeprecationWarning, match="MedianSmoothing.certify: passing generator"):
        b = m.certify(y, 0.05, 200, 1e-3, False, 0.5, gen(6))
    assert torch.equal(a.lower, b.lower) and torch.equal(a.upper, b.upper)


def test_noise_augment_y_field_and_positional_generator() -> None:
    y = torch.rand(3, 1, 2, 2, generator=gen(7))
    aug = noise_augment(y, (0.5, 0.0), generator=gen(8))
    assert torch.equal(aug.y[3:], y)  # the σ = 0 copy is the clean batch
    with pytest.warns(DeprecationWarning, match="NoiseAugmentation.y"):
        assert aug.inputs is aug.y
    with pytest.warns(DeprecationWarning, match="noise_augment: passing generator"):
        assert torch.equal(noise_augment(y, (0.5, 0.0), gen(8)).y, aug.y)


def test_dataset_per_pixel_std_y_n_seeds_and_positional_options() -> None:
    est, ys = _stochastic(), torch.rand(5, 3, generator=gen(9))
    new = dataset_per_pixel_std(est, y=ys, n_seeds=4, batch_size=2, generator=gen(10))
    with pytest.warns(DeprecationWarning) as record:
        old = dataset_per_pixel_std(est, inputs=ys, n=4, batch_size=2, generator=gen(10))
    assert torch.equal(old, new)
    assert {str(r.message).rsplit(" ", 1)[1] for r in record} == {"y=", "n_seeds="}
    biased = dataset_per_pixel_std(est, ys, 4, 2, generator=gen(10), unbiased=False)
    with pytest.warns(DeprecationWarning, match="passing generator, unbiased positionally"):
        assert torch.equal(dataset_per_pixel_std(est, ys, 4, 2, gen(10), False), biased)


def test_partial_circulant_positional_generator() -> None:
    new = PartialCirculant((1, 4, 4), 6, generator=gen(11))
    with pytest.warns(DeprecationWarning, match="PartialCirculant.__init__: passing generator"):
        old = PartialCirculant((1, 4, 4), 6, gen(11))
    assert torch.equal(old.g, new.g) and torch.equal(old.signs, new.signs)


def test_keyword_only_generator_leaves_other_calls_alone() -> None:
    @keyword_only_generator
    def f(a: int, *, generator: object = None, flag: bool = False) -> tuple[object, ...]:
        return a, generator, flag

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(1) == (1, None, False)
        assert f(1, generator="g") == (1, "g", False)
    with pytest.raises(TypeError):  # more positional arguments than 0.1 ever took
        f(1, "g", True, "extra")
    with pytest.warns(DeprecationWarning, match=r"use generator=, flag=$"):
        assert f(1, "g", True) == (1, "g", True)
