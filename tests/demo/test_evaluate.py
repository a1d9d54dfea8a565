from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from scipy.integrate import quad

from stochrobust import RangeError, StochRobustTypeError
from stochrobust.demo import DemoConfig, evaluate
from stochrobust.demo.evaluate import demo_estimators, demo_solver


@pytest.fixture(scope="module")
def quick_results():
    lines: list[str] = []
    return evaluate(DemoConfig.quick(), progress=lines.append), lines


def oracle_sensitivity(alpha: float | None, eps: float) -> float:
    """E_Y[ε²(1 + g'(Y)²)]: eq. 6 to first order in ε, by quadrature over p_Y.

    For X̂_α, g' = −y/h·sin(αy) + αh·cos(αy) (h = sqrt(1 − y²)); for the posterior sampler
    E_Z[((2Z − 1)·y/h)²] = y²/(3h²), whose mean over p_Y is 1/3.
    """
    if alpha is None:
        return eps**2 * (1 + 1 / 3)

    def integrand(y: float) -> float:
        h = math.sqrt(1 - y * y)
        gp = -y / h * math.sin(alpha * y) + alpha * h * math.cos(alpha * y)
        return (1 + gp * gp) * (2 / math.pi) * h

    return eps**2 * quad(integrand, -1, 1, limit=500)[0]


def test_expected_ordering(quick_results) -> None:
    results, lines = quick_results
    assert [r.name for r in results] == ["X_1", "X_5", "X_20", "X_50", "posterior"]
    assert len(lines) == 5 and lines[-1].startswith("[5/5] posterior sampler")
    det, post = results[:4], results[4]
    recall = [r.recall for r in det]
    sens = [r.sensitivity for r in det]
    assert recall == sorted(recall) and len(set(recall)) == 4
    assert sens == sorted(sens) and len(set(sens)) == 4
    assert recall[0] < 0.2 and recall[-1] > 0.9
    assert all(r.precision > 0.95 for r in results)
    assert post.stochastic and not any(r.stochastic for r in det)
    assert post.recall > 0.9
    assert post.sensitivity < det[-1].sensitivity / 100


def test_sensitivity_matches_first_order_oracle(quick_results) -> None:
    # A value 30x off would be the norm instead of its square; 2x off a wrong average.
    results, _ = quick_results
    for r in results:
        assert r.sensitivity == pytest.approx(oracle_sensitivity(r.alpha, r.eps), rel=0.2), r.name
        assert r.sensitivity_sqrt == pytest.approx(math.sqrt(r.sensitivity))


def test_solver_matches_grid_search_in_one_dimension() -> None:
    from stochrobust.sensitivity import sensitivity_at
    from stochrobust.toy import sample_disk, sine_disk_estimator

    gen = torch.Generator().manual_seed(0)
    _, y = sample_disk(200, generator=gen, dtype=torch.float64)
    est = sine_disk_estimator(50.0)
    res = sensitivity_at(est, y, 1e-3, solver=demo_solver(), generator=gen, box=(-1.0, 1.0))
    grid = torch.linspace(-1e-3, 1e-3, 801, dtype=torch.float64)
    clean = est(y)
    brute = torch.stack([(est((y + d).clamp(-1, 1)) - clean).pow(2).sum(1) for d in grid])
    best = brute.max(0).values
    assert float(res.value.mean()) == pytest.approx(float(best.mean()), rel=1e-3)
    assert bool((res.value <= best * (1 + 1e-6) + 1e-18).all())


def test_same_seed_same_numbers() -> None:
    cfg = DemoConfig(alphas=(5.0,), n_samples=80, n_draws=2, n_inputs=30)
    a, b = evaluate(cfg), evaluate(cfg)
    c = evaluate(replace(cfg, seed=1))
    key = [(r.precision, r.recall, r.sensitivity) for r in a]
    assert key == [(r.precision, r.recall, r.sensitivity) for r in b]
    assert key != [(r.precision, r.recall, r.sensitivity) for r in c]
    assert a[0].precision_std >= 0 and a[0].recall_std >= 0


def test_demo_estimators_sorted() -> None:
    names = [(n, a, e.is_stochastic) for n, a, e in demo_estimators(DemoConfig(alphas=(9, 2)))]
    assert names == [("X_2", 2.0, False), ("X_9", 9.0, False), ("posterior", None, True)]


def test_bad_configuration() -> None:
    with pytest.raises(RangeError, match="k: expected k < n_samples"):
        evaluate(DemoConfig(n_samples=5, k=5))
    with pytest.raises(RangeError, match="eps"):
        evaluate(DemoConfig(eps=0.0))
    with pytest.raises(RangeError, match="alphas"):
        evaluate(DemoConfig(alphas=()))
    with pytest.raises(RangeError, match="alphas"):
        evaluate(DemoConfig(alphas=(1.0, -2.0)))
    with pytest.raises(StochRobustTypeError, match="n_draws"):
        evaluate(DemoConfig(n_draws=1.5))  # type: ignore[arg-type]
