from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from stochrobust import RangeError
from stochrobust.demo import (
    DemoConfig,
    EstimatorResult,
    conclusion,
    format_table,
    run_demo,
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    report = run_demo(out, quick=True, progress=lines.append)
    return out, report, lines


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
    det, post = ests[:4], ests[4]
    for key in ("recall", "sensitivity"):  # the expected ordering, read back from the JSON
        values = [e[key] for e in det]
        assert values == sorted(values) and len(set(values)) == 4, key
    assert post["recall"] > 0.9 and post["sensitivity"] < det[-1]["sensitivity"]
    assert data["conclusion"] == report.conclusion
    assert len(lines) == 6 and lines[0].startswith("[1/5]")


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


def test_bad_configuration(tmp_path: Path) -> None:
    with pytest.raises(RangeError, match="k: expected k < n_samples"):
        run_demo(tmp_path, config=DemoConfig(n_samples=5, k=5))
    if not torch.cuda.is_available():
        with pytest.raises(RangeError, match="cuda"):
            run_demo(tmp_path, device="cuda")
