from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from stochrobust.errors import (
    ModelError,
    NonFiniteError,
    RangeError,
    ShapeError,
    StochRobustTypeError,
)
from stochrobust.metrics import fid_from_features, frechet_distance, gaussian_w2


def random_rotation(d: int, gen: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    return q


# ----------------------------------------------------------------------------- gaussian_w2
def test_one_dimensional_closed_form() -> None:
    # W2(N(m1, s1²), N(m2, s2²))² = (m1 − m2)² + (s1 − s2)²
    got = gaussian_w2(
        torch.tensor([1.0]),
        torch.tensor([[4.0]]),
        torch.tensor([-2.0]),
        torch.tensor([[0.25]]),
        squared=True,
    )
    assert float(got) == pytest.approx(9.0 + 1.5**2, abs=1e-12)
    dist = gaussian_w2(
        torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-2.0]), torch.tensor([[0.25]])
    )
    assert float(dist) == pytest.approx(math.sqrt(11.25), abs=1e-12)


@pytest.mark.parametrize("singular", [False, True])
def test_commuting_covariances_closed_form(singular: bool, gen: torch.Generator) -> None:
    # Same eigenvectors: W2² = ‖Δμ‖² + Σ_i (sqrt(a_i) − sqrt(b_i))².
    d = 6
    q = random_rotation(d, gen)
    ea = torch.rand(d, generator=gen, dtype=torch.float64) * 3 + 0.1
    eb = torch.rand(d, generator=gen, dtype=torch.float64) * 3 + 0.1
    if singular:
        eb[0] = 0.0
    ma, mb = torch.randn(2, d, generator=gen, dtype=torch.float64)
    got = gaussian_w2(ma, q @ torch.diag(ea) @ q.T, mb, q @ torch.diag(eb) @ q.T, squared=True)
    expected = (ma - mb).pow(2).sum() + (ea.sqrt() - eb.sqrt()).pow(2).sum()
    # A zero eigenvalue comes out as ~1e-16, whose square root is ~1e-8: the matrix square
    # root is ill-conditioned there, so the singular case is accurate to ~1e-8 only.
    assert float(got) == pytest.approx(float(expected), abs=1e-7 if singular else 1e-11)


def test_general_covariances_match_scipy_sqrtm(gen: torch.Generator) -> None:
    d = 5
    la = torch.randn(d, d, generator=gen, dtype=torch.float64)
    lb = torch.randn(d, d, generator=gen, dtype=torch.float64)
    ca, cb = (la @ la.T).numpy(), (lb @ lb.T).numpy()
    ma, mb = np.ones(d), np.zeros(d)
    root = scipy.linalg.sqrtm(ca)
    cross = np.real(np.trace(scipy.linalg.sqrtm(root @ cb @ root)))
    expected = np.sum((ma - mb) ** 2) + np.trace(ca) + np.trace(cb) - 2 * cross
    got = gaussian_w2(*(torch.from_numpy(t) for t in (ma, ca, mb, cb)), squared=True)
    assert float(got) == pytest.approx(expected, rel=1e-10)
    swapped = gaussian_w2(*(torch.from_numpy(t) for t in (mb, cb, ma, ca)), squared=True)
    assert float(swapped) == pytest.approx(expected, rel=1e-10)


def test_gaussian_w2_bad_input() -> None:
    eye = torch.eye(2)
    with pytest.raises(RangeError, match="cov_b: expected a symmetric"):
        gaussian_w2(torch.zeros(2), eye, torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(RangeError, match="cov_a: expected a positive semi-definite"):
        gaussian_w2(torch.zeros(2), torch.diag(torch.tensor([1.0, -1.0])), torch.zeros(2), eye)
    with pytest.raises(ShapeError, match="cov_a: expected shape \\(2, 2\\)"):
        gaussian_w2(torch.zeros(2), torch.eye(3), torch.zeros(2), eye)
    with pytest.raises(ShapeError, match="mean_b: expected shape"):
        gaussian_w2(torch.zeros(2), eye, torch.zeros(3), eye)
    with pytest.raises(NonFiniteError):
        gaussian_w2(torch.tensor([math.nan, 0.0]), eye, torch.zeros(2), eye)


# ----------------------------------------------------------------------------- frechet
def test_frechet_equals_gaussian_w2_of_numpy_moments(gen: torch.Generator) -> None:
    a = torch.randn(300, 4, generator=gen, dtype=torch.float64) @ torch.randn(
        4, 4, generator=gen, dtype=torch.float64
    )
    b = torch.randn(200, 4, generator=gen) * 2 + 1  # float32, another size
    an, bn = a.numpy(), b.double().numpy()
    ref = gaussian_w2(
        torch.from_numpy(an.mean(0)),
        torch.from_numpy(np.cov(an, rowvar=False)),
        torch.from_numpy(bn.mean(0)),
        torch.from_numpy(np.cov(bn, rowvar=False)),
        squared=True,
    )
    got = frechet_distance(a, b)
    assert got.dtype == torch.float64 and got.ndim == 0
    assert float(got) == pytest.approx(float(ref), rel=1e-10)
    assert float(frechet_distance(b, a)) == pytest.approx(float(ref), rel=1e-10)


def test_frechet_converges_to_the_closed_form(gen: torch.Generator) -> None:
    # N(0, diag(1, 4)) vs N((1, 0), diag(9, 1)): W2² = 1 + (1 − 3)² + (2 − 1)² = 6.
    a = torch.randn(40_000, 2, generator=gen, dtype=torch.float64) * torch.tensor([1.0, 2.0])
    b = torch.randn(40_000, 2, generator=gen, dtype=torch.float64) * torch.tensor([3.0, 1.0])
    b = b + torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert float(frechet_distance(a, b)) == pytest.approx(6.0, abs=0.15)


def test_frechet_singular_and_identical(gen: torch.Generator) -> None:
    a = torch.randn(10, 32, generator=gen)  # N < D: singular covariance
    assert abs(float(frechet_distance(a, a))) < 1e-9
    b = torch.randn(12, 32, generator=gen)
    value = float(frechet_distance(a, b))
    assert math.isfinite(value) and value > 0


def test_frechet_bad_input() -> None:
    with pytest.raises(ShapeError, match="at least 2 samples"):
        frechet_distance(torch.randn(1, 3), torch.randn(5, 3))
    with pytest.raises(ShapeError, match="feature dimension 3"):
        frechet_distance(torch.randn(5, 3), torch.randn(5, 4))
    with pytest.raises(NonFiniteError):
        frechet_distance(torch.full((5, 3), math.inf), torch.randn(5, 3))


# ----------------------------------------------------------------------------- FID
class FeatureNet(nn.Module):
    """A small random conv feature network with BatchNorm and dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(8, 6, 3),
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (n, 6, 1, 1), flattened by fid_from_features


class BrokenNet(FeatureNet):
    """Returns the wrong number of rows, or non-finite features."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out[:1] if self.how == "rows" else out * math.inf


def state(net: nn.Module) -> tuple:
    return (
        [m.training for m in net.modules()],
        [p.requires_grad for p in net.parameters()],
        [p.grad for p in net.parameters()],
        {k: v.clone() for k, v in net.state_dict().items()},
    )


def same_state(s1: tuple, s2: tuple) -> bool:
    return s1[:3] == s2[:3] and all(torch.equal(s1[3][k], s2[3][k]) for k in s1[3])


@pytest.mark.parametrize("batch_size", [7, 64])
def test_fid_from_features_equals_frechet_of_features(
    batch_size: int, gen: torch.Generator
) -> None:
    torch.manual_seed(0)
    net = FeatureNet().train()
    real = torch.rand(40, 3, 12, 12, generator=gen)
    fake = (torch.rand(30, 3, 12, 12, generator=gen) * 0.5) ** 2
    before = state(net)
    got = fid_from_features(net, real, fake, batch_size=batch_size)
    assert same_state(before, state(net))  # mode, grads, BatchNorm statistics untouched
    net.eval()
    with torch.no_grad():
        ref = frechet_distance(net(real).flatten(1), net(fake).flatten(1))
    assert float(got) == pytest.approx(float(ref), rel=1e-6)
    assert not got.requires_grad


def test_fid_restores_the_model_on_errors(gen: torch.Generator) -> None:
    net = BrokenNet("rows").train()
    before = state(net)
    with pytest.raises(ModelError, match="extractor: expected a tensor with"):
        fid_from_features(net, torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8))
    assert same_state(before, state(net))
    net = BrokenNet("inf").train()
    before = state(net)
    with pytest.raises(ModelError, match="finite features"):
        fid_from_features(net.forward, torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8))
    assert same_state(before, state(net))


def test_fid_bad_input() -> None:
    net = FeatureNet()
    with pytest.raises(ShapeError, match="real_images: expected a 4-D tensor"):
        fid_from_features(net, torch.rand(4, 3, 8), torch.rand(4, 3, 8, 8))
    with pytest.raises(NonFiniteError):
        fid_from_features(net, torch.full((4, 3, 8, 8), math.nan), torch.rand(4, 3, 8, 8))
    with pytest.raises(ShapeError, match="at least 2 samples"):
        fid_from_features(net, torch.rand(1, 3, 8, 8), torch.rand(4, 3, 8, 8))
    with pytest.raises(ShapeError, match="features of dimension"):
        fid_from_features(nn.Flatten(), torch.rand(4, 3, 8, 8), torch.rand(4, 3, 6, 6))
    with pytest.raises(StochRobustTypeError, match="extractor"):
        fid_from_features("inception", torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8))
