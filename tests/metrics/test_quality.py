from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from stochrobust.errors import NonFiniteError, RangeError, ShapeError
from stochrobust.metrics import joint_perceptual_index, psnr, ssim, w2_empirical


# ----------------------------------------------------------------------------- psnr
def test_psnr_closed_form(dtype: torch.dtype, gen: torch.Generator) -> None:
    x = torch.rand(3, 2, 5, 5, generator=gen, dtype=dtype)
    noise = torch.tensor([0.1, 0.01, 0.5], dtype=dtype).view(3, 1, 1, 1)
    y = x + noise  # MSE = noise²
    expected = torch.tensor([20.0, 40.0, 20 * math.log10(2)], dtype=dtype)
    torch.testing.assert_close(psnr(x, y), expected)
    torch.testing.assert_close(psnr(2 * x, 2 * y, data_range=2.0), expected)
    assert psnr(x, y).dtype == dtype


def test_psnr_identical_is_inf_and_out_of_range_is_allowed() -> None:
    x = torch.full((1, 1, 2, 2), 1.5)
    assert psnr(x, x).tolist() == [math.inf]
    assert psnr(x, -x).tolist() == pytest.approx([10 * math.log10(1 / 9)])


def test_psnr_is_differentiable(gen: torch.Generator) -> None:
    x = torch.rand(2, 1, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 1, 3, 3, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: psnr(t, y), (x,))


def test_psnr_bad_input() -> None:
    with pytest.raises(ShapeError):
        psnr(torch.rand(2, 3), torch.rand(2, 4))
    with pytest.raises(RangeError, match="data_range"):
        psnr(torch.rand(2, 3), torch.rand(2, 3), data_range=0.0)
    with pytest.raises(NonFiniteError):
        psnr(torch.full((2, 3), math.nan), torch.rand(2, 3))


# ----------------------------------------------------------------------------- ssim
def test_ssim_of_constant_images_closed_form() -> None:
    # Flat images: no variance or covariance, so SSIM = (2ab + C1) / (a² + b² + C1),
    # C1 = (0.01 · L)² with L = data_range (the contrast-structure factor is C2 / C2 = 1).
    # float64: the local variances E[x²] − E[x]² of flat float32 images are not exactly 0.
    av = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    bv = torch.tensor([0.4, 0.5, 0.1], dtype=torch.float64)
    a = av.view(3, 1, 1, 1).expand(3, 2, 16, 16)
    b = bv.view(3, 1, 1, 1).expand(3, 2, 16, 16)
    c1 = 0.01**2
    expected = (2 * av * bv + c1) / (av**2 + bv**2 + c1)
    torch.testing.assert_close(ssim(a, b), expected)
    torch.testing.assert_close(ssim(255 * a, 255 * b, data_range=255.0), expected)


def test_ssim_is_per_sample_and_differentiable(gen: torch.Generator) -> None:
    x = torch.rand(4, 3, 20, 20, generator=gen, dtype=torch.float64)
    y = (x + 0.1 * torch.rand(4, 3, 20, 20, generator=gen, dtype=torch.float64)).clamp(0, 1)
    batch = ssim(x, y)
    single = torch.cat([ssim(x[i : i + 1], y[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(batch, single)
    assert batch.shape == (4,) and (batch < 1).all()
    xg = x[:1].clone().requires_grad_(True)
    ssim(xg, y[:1]).sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()


def test_ssim_bad_input() -> None:
    x = torch.rand(2, 1, 16, 16)
    with pytest.raises(ShapeError, match="x: expected a 4-D tensor"):
        ssim(x[0], x[0])
    with pytest.raises(RangeError, match="y: expected values in \\[0, 1\\]"):
        ssim(x, x + 1.0)
    with pytest.raises(RangeError, match="kernel_size: expected an odd"):
        ssim(x, x, kernel_size=4)
    with pytest.raises(ShapeError, match="at least 11×11"):
        ssim(x[..., :8, :8], x[..., :8, :8])
    with pytest.raises(ShapeError):
        ssim(x, x[:1])


# ----------------------------------------------------------------------------- joint index
def brute_joint_w2(x: np.ndarray, y: np.ndarray, x_hat: np.ndarray) -> float:
    u = np.concatenate([x.reshape(len(x), -1), y.reshape(len(y), -1)], axis=1)
    v = np.concatenate([x_hat.reshape(len(x), -1), y.reshape(len(y), -1)], axis=1)
    best = min(
        np.mean(np.sum((u - v[list(p)]) ** 2, axis=1))
        for p in itertools.permutations(range(len(u)))
    )
    return float(np.sqrt(best))


def test_joint_index_equals_brute_force(gen: torch.Generator) -> None:
    x = torch.rand(6, 1, 2, 2, generator=gen, dtype=torch.float64)  # images
    y = x.mean(dim=(2, 3))  # a low-resolution measurement (6, 1)
    x_hat = torch.rand(6, 1, 2, 2, generator=gen, dtype=torch.float64)
    got = float(joint_perceptual_index(x, y, x_hat))
    assert got == pytest.approx(brute_joint_w2(x.numpy(), y.numpy(), x_hat.numpy()), abs=1e-12)
    assert float(joint_perceptual_index(x, y, x)) == 0.0


def test_joint_index_dominates_the_marginal_w2(gen: torch.Generator) -> None:
    # Forgetting y is a 1-Lipschitz map, so W2 of the joints ≥ W2 of the marginals. A
    # restorer that outputs the right marginal law but ignores y scores 0 on the marginal
    # and clearly positive on the joint.
    x = torch.rand(40, 2, generator=gen, dtype=torch.float64)
    y = x[:, :1]  # the toy problems: Y = X⁽¹⁾
    x_hat = x[torch.randperm(40, generator=gen)]  # same marginal, wrong pairs
    assert float(w2_empirical(x, x_hat)) == 0.0
    joint = float(joint_perceptual_index(x, y, x_hat))
    assert joint > 0.1
    other = torch.rand(40, 2, generator=gen, dtype=torch.float64)
    assert float(joint_perceptual_index(x, y, other)) >= float(w2_empirical(x, other)) - 1e-12


def test_joint_index_is_differentiable_in_x_hat(gen: torch.Generator) -> None:
    x = torch.rand(5, 2, generator=gen, dtype=torch.float64)
    x_hat = torch.rand(5, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: joint_perceptual_index(x, x[:, 0], t, squared=True), (x_hat,)
    )


def test_joint_index_bad_input() -> None:
    x = torch.rand(4, 2)
    with pytest.raises(ShapeError, match="x_hat: expected the shape of x"):
        joint_perceptual_index(x, x, torch.rand(4, 3))
    with pytest.raises(ShapeError, match="y: expected 4 measurements"):
        joint_perceptual_index(x, torch.rand(3, 1), x)
    with pytest.raises(NonFiniteError):
        joint_perceptual_index(x, torch.full((4,), math.inf), x)
