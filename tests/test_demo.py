from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from scipy.integrate import quad

from stochrobust import RangeError, StochRobustTypeError
from stochrobust.demo import (
    DemoConfig,
    EstimatorResult,
    conclusion,
    evaluate,
    format_table,
    run_demo,
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    report = run_demo(out, quick=True, progress=lines.append)
    return out, report, lines


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


def test_files_and_json_layout(quick_run) -> None:
    out, report, lines = quick_run
    for name in ("results.json", "disk_estimators.png", "sensitivity_vs_recall.png"):
        path = out / name
        assert path.exists() and path.stat().st_size > 1000, name
        assert path in report.files
    for name in ("disk_estimators.png", "sensitivity_vs_recall.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "results.json").read_text())
    ests = data["estimators"]
    assert [e["name"] for e in ests] == ["X_1", "X_5", "X_20", "X_50", "posterior"]
    assert [e["alpha"] for e in ests] == [1.0, 5.0, 20.0, 50.0, None]
    for e in ests:
        for key in ("precision", "recall", "sensitivity", "sensitivity_sqrt", "eps"):
            assert isinstance(e[key], float) and math.isfinite(e[key]), key
        assert e["eps"] == 1e-3
        assert e["sensitivity_sqrt"] == pytest.approx(math.sqrt(e["sensitivity"]))
    assert data["config"]["k"] == 5
    assert data["conclusion"] == report.conclusion
    assert len(lines) == 6 and lines[0].startswith("[1/5]")


def test_expected_ordering(quick_run) -> None:
    out, _, _ = quick_run
    ests = json.loads((out / "results.json").read_text())["estimators"]
    det, post = ests[:4], ests[4]
    recall = [e["recall"] for e in det]
    sens = [e["sensitivity"] for e in det]
    assert recall == sorted(recall) and len(set(recall)) == 4
    assert sens == sorted(sens) and len(set(sens)) == 4
    assert recall[0] < 0.2 and recall[-1] > 0.9
    assert all(e["precision"] > 0.95 for e in ests)
    assert post["recall"] > 0.9
    assert post["sensitivity"] < det[-1]["sensitivity"] / 100


def test_sensitivity_matches_first_order_oracle(quick_run) -> None:
    # A value 30x off would be the norm instead of its square; 2x off a wrong average.
    _, report, _ = quick_run
    for r in report.results:
        assert r.sensitivity == pytest.approx(oracle_sensitivity(r.alpha, r.eps), rel=0.2), r.name


def test_report_text_reflects_numbers(quick_run) -> None:
    _, report, _ = quick_run
    lo, hi, post = report.results[0], report.results[3], report.results[4]
    assert f"{lo.recall:.2f}" in report.conclusion and f"{hi.recall:.2f}" in report.conclusion
    assert f"{post.sensitivity:.2e}" in report.conclusion
    assert "posterior sampler" in report.table and len(report.table.splitlines()) == 6


def mk(name: str, alpha: float | None, recall: float, sens: float) -> EstimatorResult:
    return EstimatorResult(
        name, alpha, alpha is None, 1.0, recall, 0.0, 0.0, sens, math.sqrt(sens), sens, 1e-3, 0.0
    )


def test_conclusion_says_when_the_ordering_fails() -> None:
    bad = [mk("X_1", 1.0, 0.5, 1e-3), mk("X_50", 50.0, 0.4, 1e-6), mk("posterior", None, 0.3, 1.0)]
    text = conclusion(bad)
    assert "not both increasing" in text and "does not show it" in text
    good = [mk("X_1", 1.0, 0.1, 1e-6), mk("X_50", 50.0, 0.9, 1e-3), mk("posterior", None, 1, 2e-6)]
    text = conclusion(good)
    assert "1000x" in text and "comparable to" in text
    with pytest.raises(RangeError, match="results"):
        conclusion(good[:2])


def test_format_table_rows() -> None:
    table = format_table([mk("X_1", 1.0, 0.25, 4e-6), mk("posterior", None, 0.75, 1e-6)])
    lines = table.splitlines()
    assert len(lines) == 3 and "0.250" in lines[1] and "4.00e-06" in lines[1]
    assert lines[2].split()[2] == "-"


def test_same_seed_same_numbers() -> None:
    cfg = DemoConfig(alphas=(5.0,), n_samples=80, n_draws=2, n_inputs=30)
    a, b = evaluate(cfg), evaluate(cfg)
    c = evaluate(replace(cfg, seed=1))
    key = [(r.precision, r.recall, r.sensitivity) for r in a]
    assert key == [(r.precision, r.recall, r.sensitivity) for r in b]
    assert key != [(r.precision, r.recall, r.sensitivity) for r in c]


def test_bad_configuration(tmp_path: Path) -> None:
    with pytest.raises(RangeError, match="k: expected k < n_samples"):
        run_demo(tmp_path, config=DemoConfig(n_samples=5, k=5))
    with pytest.raises(RangeError, match="eps"):
        run_demo(tmp_path, config=DemoConfig(eps=0.0))
    with pytest.raises(RangeError, match="alphas"):
        run_demo(tmp_path, config=DemoConfig(alphas=()))
    with pytest.raises(StochRobustTypeError, match="n_draws"):
        run_demo(tmp_path, config=DemoConfig(n_draws=1.5))  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(RangeError, match="cuda"):
            run_demo(tmp_path, device="cuda")
