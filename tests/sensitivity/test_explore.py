"""explore ([O24] posterior exploration): the disk, closed forms, consistency, fusion."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stochrobust import Estimator, RangeError, ShapeError, StochRobustTypeError
from stochrobust.consistency import AvgPoolDownsample
from stochrobust.metrics import per_pixel_std
from stochrobust.sensitivity import PGD, explore
from stochrobust.toy import disk_half_width, sine_disk_estimator


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


Y_DISK = torch.tensor([[-0.6], [-0.2], [0.0], [0.3], [0.7]])


def chord_coverage(alpha: float, n: int = 16) -> torch.Tensor:
    res = explore(sine_disk_estimator(alpha), Y_DISK, 0.05, n, box=(-1.0, 1.0), generator=gen(0))
    second = res.samples[..., 1]
    return (second.amax(1) - second.amin(1)) / (2 * disk_half_width(Y_DISK[:, 0]))


def test_erratic_disk_estimator_covers_most_of_the_chord() -> None:
    # X̂_50 with eps = 0.05: the phase 50(y + δ) sweeps 5 rad, so the outputs reach most
    # of [-sqrt(1 - y²), sqrt(1 - y²)] (at least from one extremum of sin to cos(2.5)).
    cover = chord_coverage(50.0)
    assert torch.all(cover > 0.75), cover


def test_robust_disk_estimator_barely_moves() -> None:
    # X̂_1: |d x̂₂/dy| ≤ 1.1 on [-0.75, 0.75], so the spread is at most 2·1.1·eps = 0.11.
    cover = chord_coverage(1.0)
    assert torch.all(cover * 2 * disk_half_width(Y_DISK[:, 0]) <= 0.11), cover
    assert torch.all(cover < 0.1)


def test_exploration_is_deterministic_given_the_generator() -> None:
    est = sine_disk_estimator(50.0)
    a = explore(est, Y_DISK, 0.05, 6, box=(-1.0, 1.0), generator=gen(3))
    b = explore(est, Y_DISK, 0.05, 6, box=(-1.0, 1.0), generator=gen(3))
    c = explore(est, Y_DISK, 0.05, 6, box=(-1.0, 1.0), generator=gen(4))
    assert torch.equal(a.samples, b.samples) and torch.equal(a.delta, b.delta)
    assert not torch.equal(a.delta, c.delta)


def test_first_sample_is_the_clean_output_and_fields_agree() -> None:
    est = sine_disk_estimator(20.0)
    res = explore(est, Y_DISK, 0.05, 5, box=(-1.0, 1.0), generator=gen(1))
    assert torch.equal(res.samples[:, 0], est.model(Y_DISK))
    assert torch.all(res.delta[:, 0] == 0) and torch.all(res.distance[:, 0] == 0)
    # every sample is the model at its perturbation, and the perturbations are feasible
    redo = est.model((Y_DISK.unsqueeze(1) + res.delta).reshape(-1, 1)).reshape(5, 5, 2)
    assert torch.allclose(res.samples, redo, atol=1e-6)
    assert torch.all(res.delta.abs() <= 0.05 + 1e-6)
    # distance[i] is the distance of sample i to the nearest earlier sample
    for i in range(1, 5):
        d = (res.samples[:, i : i + 1] - res.samples[:, :i]).norm(dim=-1).amin(1)
        assert torch.allclose(res.distance[:, i], d, atol=1e-5)


def test_linear_map_closed_form() -> None:
    # G(y) = A y on the L2 ball: the first explored sample maximises ‖Aδ‖ → eps·σ_max, and
    # the second is best at -δ₁ (distances eps·σ_max to G(y) and 2·eps·σ_max to s₁).
    A = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    y = torch.rand(4, 2, generator=gen(2), dtype=torch.float64)
    res = explore(lambda t: t @ A.T, y, 0.1, 3, generator=gen(5))
    assert torch.allclose(
        res.distance[:, 1:], torch.full((4, 2), 0.3, dtype=torch.float64), rtol=1e-3
    )


class Erratic(torch.nn.Module):
    """x̂ = up(y) + 0.3·sin(40·conv(up(y))): an erratic ×2 SR model."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(1)
        self.calls: list[int] = []

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        self.calls.append(y.shape[0])
        up = F.interpolate(y, scale_factor=2, mode="nearest")
        return up + 0.3 * torch.sin(40 * self.bn(self.conv(up)))


def test_consistency_projection_fused_calls_and_model_hygiene() -> None:
    torch.manual_seed(0)
    net = Erratic().train()
    buffers = {k: v.clone() for k, v in net.state_dict().items()}
    y = torch.rand(3, 1, 4, 4, generator=gen(6))
    y0 = y.clone()
    op = AvgPoolDownsample(2)
    res = explore(net, y, 0.05, 4, op=op, solver=PGD(steps=4), generator=gen(7))
    assert res.samples.shape == (3, 4, 1, 8, 8) and res.consistent
    assert torch.allclose(op.A(res.samples.flatten(0, 1)), y.repeat_interleave(4, 0), atol=1e-6)
    # every model call holds the B = 3 inputs at once: one fused call per solver step
    assert set(net.calls) == {3}
    assert len(net.calls) == 1 + 3 * (4 + 2)  # clean pass + 3 samples × (steps + 2 evals)
    assert net.training and all(p.grad is None and p.requires_grad for p in net.parameters())
    assert all(torch.equal(v, buffers[k]) for k, v in net.state_dict().items())
    assert torch.equal(y, y0)
    # the samples are usable as a stochastic estimator's: a positive per-pixel std
    assert torch.all(per_pixel_std(res.samples) > 0)


def test_stochastic_estimator_is_explored_at_one_seed() -> None:
    est = Estimator(lambda y, z: 2 * y + z, seed_shape=(2,))
    y = torch.zeros(2, 2)
    res = explore(est, y, 0.1, 3, generator=gen(8))
    z = res.samples[:, 0]  # G(0, z) = z: the drawn seed
    assert torch.allclose(res.samples - z.unsqueeze(1), 2 * res.delta, atol=1e-6)


def test_zero_radius_and_bad_arguments() -> None:
    f = lambda t: 2 * t  # noqa: E731
    y = torch.rand(2, 3)
    res = explore(f, y, 0.0, 3)
    assert torch.equal(res.samples, (2 * y).unsqueeze(1).expand(2, 3, 3))
    with pytest.raises(RangeError, match="n_samples"):
        explore(f, y, 0.1, 0)
    with pytest.raises(RangeError, match="ball"):
        explore(f, y, 0.1, 2, ball="l0")
    with pytest.raises(RangeError, match="eps"):
        explore(f, y, -0.1, 2)
    with pytest.raises(StochRobustTypeError, match="op"):
        explore(f, y, 0.1, 2, op="avgpool")  # type: ignore[arg-type]
    with pytest.raises(ShapeError):
        explore(f, torch.rand(2, 1, 4, 4), 0.1, 2, op=AvgPoolDownsample(2))
