"""The `examples/ci_test_example` mini project: passes as shipped, fails readably with
`--runxfail` (the erratic model), and the copy-paste test file of `docs/testing.md` runs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester: pytest.Pytester, repo_root: str) -> Path:
    dest = pytester.path / "ci_test_example"
    shutil.copytree(Path(repo_root) / "examples" / "ci_test_example", dest)
    return dest


def test_example_project_passes(pytester, project, plugin_args) -> None:
    result = pytester.runpytest(*plugin_args, "-p", "no:cacheprovider", str(project))
    result.assert_outcomes(passed=6, xfailed=2)
    assert result.ret == 0


def test_erratic_model_fails_readably(pytester, project, plugin_args) -> None:
    result = pytester.runpytest(
        *plugin_args, "-p", "no:cacheprovider", "--runxfail", str(project), "-k", "erratic"
    )
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: stochrobust: same-seed sensitivity (sqrt of the eq. 6 value) "
            "above max_norm = 0.4789 at 4 of 4 inputs",
            "*found max * at input * vs bound 0.4789 (*x the bound)",
            "*eps = 0.3192 on the l2 ball (worst-case AI-PSNR 34.00 dB*",
            "*solver = Protocol(budget='default'*",
        ]
    )
    found = float(re.search(r"found max (\S+) at input", out).group(1))
    assert found > 0.4789
    result.stdout.fnmatch_lines(["*eq. 9 output PSNR below min_psnr_db = 30.00 dB*"])


def test_docs_example_file_runs(pytester, repo_root, plugin_args) -> None:
    text = (Path(repo_root) / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n# test_robustness\.py\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "docs/testing.md must hold one '# test_robustness.py' block"
    pytester.makepyfile(test_robustness=blocks[0])
    result = pytester.runpytest(
        *plugin_args, "-p", "no:cacheprovider", "--stochrobust-budget", "0.5"
    )
    result.assert_outcomes(passed=4, xfailed=1)
    # the failure report shown in the docs is the one the file produces
    shown = re.search(r"```text\n(AssertionError: .*?)```", text, flags=re.S).group(1)
    result = pytester.runpytest(
        *plugin_args, "-p", "no:cacheprovider", "--runxfail", "-k", "erratic"
    )
    result.assert_outcomes(failed=1)
    escaped = [line.strip().replace("[", "[[]") for line in shown.splitlines()]  # fnmatch
    result.stdout.fnmatch_lines([f"E   *{line}" for line in escaped])
