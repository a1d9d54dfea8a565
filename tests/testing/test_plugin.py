from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

from stochrobust.testing import current_budget, current_seed

pytest_plugins = ["pytester"]

INNER = """
import torch
from stochrobust.testing import assert_sensitivity_below, current_budget, current_seed

def test_fixtures(sr_generator, sr_budget, sr_seed, pytestconfig):
    assert sr_budget == pytestconfig.getoption("stochrobust_budget", None) or sr_budget == 1.0
    assert (sr_budget, sr_seed) == (current_budget(), current_seed())
    ref = torch.Generator().manual_seed(sr_seed)
    assert torch.equal(torch.rand(3, generator=sr_generator), torch.rand(3, generator=ref))
    print(f"VALUES budget={sr_budget} seed={sr_seed}")

def test_fresh_generator_per_test(sr_generator, sr_seed):
    ref = torch.Generator().manual_seed(sr_seed)
    assert torch.equal(torch.rand(3, generator=sr_generator), torch.rand(3, generator=ref))

def test_budget_reaches_assertions():
    assert_sensitivity_below(lambda y: 3 * y, torch.zeros(2, 4), 0.1, max_norm=0.2)
"""


def run_inner(pytester: pytest.Pytester, plugin_args: list[str], *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=INNER)
    return pytester.runpytest(*plugin_args, "-s", *args)


def test_defaults(pytester, plugin_args) -> None:
    result = run_inner(pytester, plugin_args)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["stochrobust: budget 1, seed 0", "*VALUES budget=1.0 seed=0*"])
    result.stdout.fnmatch_lines(
        ["*found max 0.3 at input ? vs bound 0.2*", "*solver = Protocol(budget='default',*"]
    )
    # the failure points at the test's line, not into the library (__tracebackhide__)
    assert "stochrobust/testing/assertions.py" not in result.stdout.str()
    result.stdout.fnmatch_lines([">*assert_sensitivity_below(lambda y: 3 * y*", "test_inner.py:*"])


def test_cli_options(pytester, plugin_args) -> None:
    before = (current_budget(), current_seed())
    result = run_inner(
        pytester, plugin_args, "--stochrobust-budget", "0.25", "--stochrobust-seed", "7"
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["stochrobust: budget 0.25, seed 7", "*VALUES budget=0.25 seed=7*"])
    # the budget reached the assertion: 100 evaluations per input scaled to 25
    result.stdout.fnmatch_lines(
        [
            "*solver = Protocol(budget=25,*scaled from Protocol(budget='default'*"
            "by the budget 0.25)",
            "*seed 7*",
            "*attack: * 24 evaluations/input, 2 starts*",
        ]
    )
    assert (current_budget(), current_seed()) == before  # restored after the inner session


def test_ini_options(pytester, plugin_args) -> None:
    pytester.makeini("[pytest]\nstochrobust_budget = 0.5\nstochrobust_seed = 3\n")
    result = run_inner(pytester, plugin_args)
    result.stdout.fnmatch_lines(["stochrobust: budget 0.5, seed 3", "*Protocol(budget=50,*"])
    # the command line wins over the ini file
    result = run_inner(pytester, plugin_args, "--stochrobust-budget", "2")
    result.stdout.fnmatch_lines(["stochrobust: budget 2, seed 3", "*Protocol(budget=200,*"])


def test_solver_options_reach_the_assertions(pytester, plugin_args) -> None:
    result = run_inner(
        pytester, plugin_args, "--stochrobust-solver", "pgd", "--stochrobust-steps", "8",
        "--stochrobust-restarts", "3", "--stochrobust-budget", "0.5",
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*solver = PGD(restarts=3, random_start=True, steps=4,*"])
    result = run_inner(pytester, plugin_args, "--stochrobust-level", "thorough")
    result.stdout.fnmatch_lines(["*solver = Protocol(budget='thorough',*", "*400 evaluations*"])
    result = run_inner(pytester, plugin_args, "--stochrobust-level", "huge")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--stochrobust-solver: budget: expected one of*"])


def test_plugin_solver_names_match_the_library() -> None:
    from stochrobust.sensitivity import SOLVER_NAMES
    from stochrobust.testing.plugin import SOLVER_NAMES as PLUGIN_NAMES

    assert PLUGIN_NAMES == SOLVER_NAMES


@pytest.mark.parametrize(
    ("args", "ini", "error"),
    [
        (["--stochrobust-budget", "0"], "", "--stochrobust-budget: expected a finite number > 0"),
        (["--stochrobust-budget", "nan"], "", "expected a finite number > 0, got nan"),
        (["--stochrobust-seed", "-2"], "", "--stochrobust-seed: expected an integer >= 0"),
        ([], "stochrobust_budget = fast", "ini option stochrobust_budget: expected a number"),
        ([], "stochrobust_seed = 1.5", "ini option stochrobust_seed: expected an integer"),
    ],
)
def test_invalid_values_are_usage_errors(pytester, plugin_args, args, ini, error) -> None:
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest(*plugin_args, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert error in result.stderr.str()


def test_plugin_does_not_disturb_other_tests(pytester, plugin_args) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest(*plugin_args, "--stochrobust-budget", "0.1")
    result.assert_outcomes(passed=1)
    assert result.ret == 0


def test_help_lists_the_options(pytester, plugin_args) -> None:
    result = pytester.runpytest(*plugin_args, "--help")
    result.stdout.fnmatch_lines(["*--stochrobust-budget=FACTOR*", "*--stochrobust-seed=SEED*"])


def test_plugin_import_is_light(repo_root) -> None:
    code = (
        "import sys, stochrobust.testing.plugin\n"
        "heavy = ('torch', 'numpy', 'scipy', 'matplotlib', 'hypothesis', 'piq', "
        "'stochrobust.estimator', 'stochrobust.sensitivity', "
        "'stochrobust.testing.assertions', 'stochrobust.smoothing')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": repo_root}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_entry_point_declared_in_pyproject(repo_root) -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(os.path.join(repo_root, "pyproject.toml"), "rb") as fh:
        meta = tomllib.load(fh)
    assert meta["project"]["entry-points"]["pytest11"] == {
        "stochrobust": "stochrobust.testing.plugin"
    }


def test_entry_point_installed() -> None:
    try:
        dist = importlib.metadata.distribution("stochrobust")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("stochrobust is not installed (run from a source checkout)")
    eps = [ep for ep in dist.entry_points if ep.group == "pytest11"]
    assert [(ep.name, ep.value) for ep in eps] == [("stochrobust", "stochrobust.testing.plugin")]
