"""deepinv adapters: operators both ways (checked with deepinv's own adjointness_test and
with check_linear_operator), pseudo-inverse agreement, an attack through a deepinv
reconstructor against a closed form, and a deepinv sampler with reproducible seeds."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

deepinv = pytest.importorskip("deepinv")

from stochrobust.consistency import (  # noqa: E402
    AvgPoolDownsample,
    BlurDownsample,
    PartialCirculant,
    from_deepinv,
    to_deepinv,
)
from stochrobust.errors import ModelError, StochRobustTypeError  # noqa: E402
from stochrobust.interop.deepinv import reconstructor, sampler  # noqa: E402
from stochrobust.metrics import per_pixel_std  # noqa: E402
from stochrobust.sensitivity import sensitivity_at  # noqa: E402
from stochrobust.testing import check_linear_operator  # noqa: E402


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _inpainting() -> object:
    return deepinv.physics.Inpainting(img_size=(1, 8, 8), mask=0.6, rng=_gen(3))


def _downsampling() -> object:
    return deepinv.physics.Downsampling(
        img_size=(1, 8, 8), filter="bicubic", factor=2, padding="circular"
    )


@pytest.mark.parametrize("make", [_inpainting, _downsampling], ids=["inpainting", "downsampling"])
def test_deepinv_physics_pass_check_linear_operator(make) -> None:
    op = from_deepinv(make())
    errors = check_linear_operator(op, (2, 1, 8, 8), dtype=torch.float32, generator=_gen())
    assert max(errors.values()) <= 1e-4


@pytest.mark.parametrize(
    "op",
    [
        AvgPoolDownsample(2),
        BlurDownsample(torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]), 2),
        PartialCirculant((1, 8, 8), 20, generator=_gen(1)),
    ],
    ids=["avgpool", "blur", "circulant"],
)
def test_our_operators_pass_deepinv_adjointness_test(op) -> None:
    physics = to_deepinv(op)
    x = torch.rand(1, 1, 8, 8, generator=_gen(2))
    assert float(physics.adjointness_test(x).abs()) < 1e-5
    y = physics.A(torch.rand(2, 1, 8, 8, generator=_gen(4)))
    # the exact A⁺ of ours, reached through deepinv's A_dagger: A A⁺ y = y for y in range
    assert torch.allclose(physics.A(physics.A_dagger(y)), y, atol=1e-5)
    assert torch.equal(physics.A_dagger(y), op.A_pinv(y))


def test_pseudo_inverses_agree_with_deepinv() -> None:
    physics = _inpainting()
    op = from_deepinv(physics)
    y = physics.A(torch.rand(2, 1, 8, 8, generator=_gen(5)))
    assert op.exact_dagger
    assert torch.equal(op.A_pinv(y), physics.A_dagger(y))
    ds = _downsampling()
    op2 = from_deepinv(ds)
    y2 = ds.A(torch.rand(2, 1, 8, 8, generator=_gen(6), dtype=torch.float64).float())
    # ours (CG on A Aᵀ) and deepinv's iterative A_dagger solve the same problem
    ours, theirs = op2.A_pinv(y2), ds.A_dagger(y2)
    assert torch.allclose(ds.A(ours), y2, atol=1e-4)
    assert torch.allclose(ours, theirs, atol=5e-3)


def test_attack_through_a_deepinv_reconstructor_matches_the_closed_form() -> None:
    class Adjoint(deepinv.models.Reconstructor):
        def forward(self, y, physics, **kwargs):  # type: ignore[no-untyped-def]
            return 2.0 * physics.A_adjoint(y)

    physics = _inpainting()
    est = reconstructor(Adjoint(), physics)
    y = torch.rand(3, 1, 8, 8, generator=_gen(7))
    res = sensitivity_at(est, y, 0.05, generator=_gen(8))
    # G = 2·M (a 0/1 mask): sigma_max = 2, so eq. 2 = 2·eps exactly at the optimum
    assert torch.allclose(res.value.sqrt(), torch.full((3,), 0.1), rtol=1e-3)


def test_a_real_deepinv_network_is_attacked_and_left_unchanged() -> None:
    torch.manual_seed(0)
    net = deepinv.models.DnCNN(1, 1, depth=3, nf=8, pretrained=None)
    model = deepinv.models.ArtifactRemoval(net).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    est = reconstructor(model, _inpainting())
    res = sensitivity_at(est, torch.rand(2, 1, 8, 8, generator=_gen(9)), 0.1, generator=_gen(1))
    assert bool((res.value > 0).all())
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def _ddrm() -> object:
    torch.manual_seed(0)
    den = deepinv.models.DnCNN(1, 1, depth=3, nf=8, pretrained=None)
    return deepinv.sampling.DDRM(den, sigmas=np.linspace(1.0, 0.01, 6))


def test_a_deepinv_sampler_gives_bit_identical_samples_for_a_fixed_generator() -> None:
    physics = _inpainting()
    est = sampler(_ddrm(), physics, max_batch=3)
    y = physics.A(torch.rand(2, 1, 8, 8, generator=_gen(10)))
    y0 = y.clone()
    state = torch.get_rng_state()
    a = est.sample(y, 4, generator=_gen(11))
    b = sampler(_ddrm(), physics).sample(y, 4, generator=_gen(11))  # other chunking
    c = est.sample(y, 4, generator=_gen(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(y, y0)  # DDRM writes into its input: the adapter passes a copy
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is untouched
    assert bool((per_pixel_std(a) > 0).all())


def test_no_grad_samplers_are_reported_when_attacked() -> None:
    physics = _inpainting()
    est = sampler(_ddrm(), physics)
    with pytest.raises(ModelError):
        sensitivity_at(est, physics.A(torch.rand(1, 1, 8, 8)), 0.1, n_seeds=2, generator=_gen())


def test_bad_arguments_are_typed() -> None:
    with pytest.raises(StochRobustTypeError, match="physics"):
        from_deepinv(torch.nn.Identity())
    with pytest.raises(StochRobustTypeError, match="op"):
        to_deepinv(torch.nn.Identity())  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="sampler"):
        sampler(3, _inpainting())


def test_the_core_imports_without_deepinv() -> None:
    code = (
        "import sys; sys.modules['deepinv'] = None\n"
        "import stochrobust.consistency, stochrobust.interop.deepinv, stochrobust.sensitivity\n"
        "try:\n"
        "    stochrobust.consistency.from_deepinv(object())\n"
        "except ImportError as e:\n"
        "    print('ImportError', 'stochrobust[deepinv]' in str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ImportError True"
