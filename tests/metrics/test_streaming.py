from __future__ import annotations

import numpy as np
import pytest
import torch

from stochrobust.errors import ShapeError, StochRobustTypeError
from stochrobust.metrics import (
    CertifiedRateState,
    FrechetState,
    MeanState,
    MetricState,
    PixelStdState,
    PRDCState,
    PSNRState,
    SSIMState,
    chan_merge,
    frechet_distance,
    per_pixel_std,
    prdc,
    psnr,
    ssim,
)
from stochrobust.metrics.distributed import all_gather_uneven, iter_shards, rank_info


def test_chan_merge_equals_two_pass_moments(gen: torch.Generator) -> None:
    x = 1e6 + torch.randn(1000, 3, generator=gen, dtype=torch.float64)  # far from 0
    parts = [x[:1], x[1:400], x[400:]]
    acc = (x.new_zeros(()), x.new_zeros(0), x.new_zeros(0))
    for p in parts:
        c = p - p.mean(0)
        acc = chan_merge(acc, (p.new_tensor(float(len(p))), p.mean(0), c.mT @ c), outer=True)
    n, mean, m2 = acc
    assert float(n) == 1000
    torch.testing.assert_close(mean, x.mean(0), rtol=0, atol=1e-9)
    torch.testing.assert_close(m2 / (n - 1), torch.cov(x.T), rtol=1e-9, atol=1e-9)


def test_mean_state_merge_and_variance(gen: torch.Generator) -> None:
    v = torch.randn(101, generator=gen, dtype=torch.float64) * 3 + 1e4
    a, b, whole = MeanState(), MeanState(), MeanState()
    a.update(v[:30])
    b.update(v[30:70])
    b.update(v[70:])
    whole.update(v)
    a.merge(b)
    assert float(a.count) == 101
    assert float(a.compute()) == pytest.approx(float(v.mean()), rel=1e-14)
    assert float(a.variance()) == pytest.approx(float(v.var()), rel=1e-10)
    assert float(b.count) == 71  # the merged-in state is unchanged
    a.reset()
    assert float(a.count) == 0


def test_pixel_std_streamed_over_seed_chunks(gen: torch.Generator) -> None:
    s = torch.rand(3, 32, 2, 4, 4, generator=gen)
    a, b = PixelStdState(), PixelStdState()
    a.update(s[:, :5])
    b.update(s[:, 5:20])
    b.update(s[:, 20:])
    torch.testing.assert_close(a.merge(b).compute(), per_pixel_std(s.double()))
    biased = PixelStdState(unbiased=False)
    biased.update(s)
    torch.testing.assert_close(biased.compute(), per_pixel_std(s.double(), unbiased=False))
    with pytest.raises(ShapeError, match="samples: expected"):
        a.update(torch.rand(2, 4, 2, 4, 4))


def test_frechet_state_equals_function(gen: torch.Generator) -> None:
    fa = torch.randn(300, 5, generator=gen)
    fb = 2 * torch.randn(200, 5, generator=gen) + 1
    st, other = FrechetState(), FrechetState()
    st.update(feats_a=fa[:100])
    other.update(feats_a=fa[100:], feats_b=fb[:50])
    other.update(feats_b=fb[50:])
    st.merge(other)
    torch.testing.assert_close(st.compute(), frechet_distance(fa, fb), rtol=1e-10, atol=1e-10)
    one = FrechetState()
    one.update(feats_a=fa)
    with pytest.raises(ShapeError, match="feats_b: expected at least 2"):
        one.value()
    with pytest.raises(ShapeError, match="feats_a: expected feature dimension 5"):
        st.update(feats_a=torch.zeros(3, 4))


def test_psnr_ssim_means(gen: torch.Generator) -> None:
    x = torch.rand(6, 1, 16, 16, generator=gen)
    y = (x + 0.05 * torch.rand(6, 1, 16, 16, generator=gen)).clamp(0, 1)
    p, q = PSNRState(), SSIMState()
    for sl in (slice(0, 2), slice(2, 6)):
        p.update(x[sl], y[sl])
        q.update(x[sl], y[sl])
    assert float(p.compute()) == pytest.approx(float(psnr(x, y).double().mean()), rel=1e-6)
    assert float(q.compute()) == pytest.approx(float(ssim(x, y).double().mean()), rel=1e-6)


def test_psnr_and_ssim_states_use_data_range(gen: torch.Generator) -> None:
    # PSNR closed form 10·log10(R²/MSE) per image on [0, R] data, averaged; SSIM is invariant
    # under scaling the images and the range together (its constants are (k·R)²).
    x = torch.rand(4, 1, 16, 16, generator=gen, dtype=torch.float64)
    y = (x + 0.1 * torch.rand(4, 1, 16, 16, generator=gen, dtype=torch.float64)).clamp(0, 1)
    r = 255.0
    p, q = PSNRState(data_range=r), SSIMState(data_range=r)
    p.update(r * x[:1], r * y[:1])
    p.update(r * x[1:], r * y[1:])
    q.update(r * x, r * y)
    mse = ((r * x - r * y).numpy() ** 2).reshape(4, -1).mean(axis=1)
    want = float(np.mean(10 * np.log10(r**2 / mse)))
    assert float(p.compute()) == pytest.approx(want, rel=1e-12)
    assert float(q.compute()) == pytest.approx(float(ssim(x, y).mean()), rel=1e-9)
    unit = PSNRState()
    unit.update(r * x, r * y)
    assert float(unit.compute()) == pytest.approx(want - 20 * np.log10(r), rel=1e-12)


def test_certified_rate_counts() -> None:
    st = CertifiedRateState()
    st.update(torch.tensor([[[True, False]], [[True, True]]]))
    st.update(torch.tensor([[[False, False]]]))
    cov, inputs = st.compute()
    assert (float(cov), float(inputs)) == (3 / 6, 1 / 3)
    with pytest.raises(StochRobustTypeError, match="certified: expected a boolean"):
        st.update(torch.ones(2, 2))


def test_prdc_state_equals_function(gen: torch.Generator) -> None:
    real = torch.randn(80, 4, generator=gen)
    fake = torch.randn(60, 4, generator=gen) + 0.5
    a, b = PRDCState(k=3), PRDCState(k=3)
    a.update(real=real[:30], fake=fake[:10])
    b.update(real=real[30:])
    b.update(fake=fake[10:])
    want = [float(v) for v in prdc(real, fake, k=3)]
    assert [float(v) for v in a.merge(b).compute()] == want
    assert [float(v) for v in a.sync().compute()] == want  # one process: a copy


def test_sync_without_distributed_is_a_copy() -> None:
    st = MeanState()
    st.update(torch.tensor([1.0, 3.0]))
    copy = st.sync()
    copy.update(torch.tensor([100.0]))
    assert float(st.compute()) == 2.0


def test_merge_rejects_other_classes() -> None:
    with pytest.raises(StochRobustTypeError, match="other: expected a MeanState"):
        MeanState().merge(PSNRState())  # type: ignore[arg-type]


def test_base_class_requires_update_and_value() -> None:
    st = MetricState()
    with pytest.raises(NotImplementedError):
        st.update()
    with pytest.raises(NotImplementedError):
        st.compute()


def test_collectives_without_distributed() -> None:
    x = torch.arange(5.0)
    assert rank_info() == (0, 1)
    assert [t.tolist() for t in all_gather_uneven(x)] == [x.tolist()]
    chunks = [(s, o, c.tolist()) for s, o, c in iter_shards(x.unsqueeze(1), 2)]
    assert [o for _, o, _ in chunks] == [0, 2, 4]
    assert np.concatenate([np.array(c) for _, _, c in chunks]).ravel().tolist() == x.tolist()


class _InPlaceCount(MetricState):
    """A subclass that updates its state in place (allowed by the base class)."""

    def __init__(self) -> None:
        super().__init__()
        self.add_state("n", torch.zeros((), dtype=torch.int64), "sum")
        self.add_state("seen", torch.zeros(0), "cat")

    def update(self, x: torch.Tensor) -> None:
        self.n += x.numel()
        self.seen.append(x)

    def value(self) -> tuple[int, list[float]]:
        return int(self.n), torch.cat([torch.zeros(0), *self.seen]).tolist()


def test_sync_and_merge_never_alias_state() -> None:
    a = _InPlaceCount()
    a.update(torch.tensor([1.0, 2.0]))
    synced = a.sync()
    synced.update(torch.tensor([3.0]))
    assert a.compute() == (2, [1.0, 2.0])
    assert synced.compute() == (3, [1.0, 2.0, 3.0])
    b = _InPlaceCount()
    b.merge(a)
    b.update(torch.tensor([4.0]))
    assert a.compute() == (2, [1.0, 2.0])
    a.reset()
    assert a.compute() == (0, [])
