"""The stochrobust pytest plugin: a CI budget for attacks and seeded generators.

Installed with stochrobust (entry point ``stochrobust`` in the ``pytest11`` group), so it
is active in every pytest session of an environment where stochrobust is installed;
disable it with ``-p no:stochrobust``. From a source checkout that is not installed, load it
with ``pytest -p stochrobust.testing.plugin`` (not both: pytest refuses to register a plugin
twice).

Options (command line, or ``[pytest]`` ini keys without the dashes):

- ``--stochrobust-budget FACTOR`` (ini ``stochrobust_budget``, default ``1.0``): the factor
  the assertions of :mod:`stochrobust.testing` apply to their solver's steps
  (:func:`~stochrobust.testing.scaled_solver`), e.g. ``0.25`` in a quick CI job and ``4`` in a
  nightly one.
- ``--stochrobust-seed SEED`` (ini ``stochrobust_seed``, default ``0``): the seed of the
  ``sr_generator`` fixture and of the generator the assertions use when they get none.
- ``--stochrobust-solver NAME`` (default: the budgeted protocol), with
  ``--stochrobust-level LEVEL`` (the protocol's budget: ``fast``, ``default``, ``thorough``
  or evaluations per input) or ``--stochrobust-steps N`` / ``--stochrobust-restarts N`` (the
  other solvers): the solver the assertions use when they get none
  (:func:`~stochrobust.sensitivity.make_solver`). The budget factor still applies on top
  (:meth:`~stochrobust.sensitivity.Solver.scaled`: the protocol scales its evaluations,
  hence both its starts and its steps).

Fixtures: ``sr_seed`` (int), ``sr_budget`` (float), ``sr_generator`` (a fresh CPU
:class:`torch.Generator` seeded with ``sr_seed`` for every test).

Loading the plugin imports neither torch nor the rest of stochrobust (the ``stochrobust``
package imports its names lazily), so it costs nothing in sessions that do not use it; the
fixtures import torch when used.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import pytest

if TYPE_CHECKING:  # pragma: no cover
    import torch


class _Settings(NamedTuple):
    budget: float
    seed: int


_SETTINGS = pytest.StashKey[_Settings]()
_PREVIOUS = pytest.StashKey[tuple[float, int, "dict[str, object] | None"]]()

SOLVER_NAMES = ("protocol", "apgd", "pgd", "adam", "fgsm", "bim", "cw")
"""The ``--stochrobust-solver`` choices (``stochrobust.sensitivity.SOLVER_NAMES``; spelled
out here so that loading the plugin imports nothing heavy)."""


def _solver_options(config: pytest.Config) -> dict[str, object]:
    """The keyword arguments of ``session.set_solver`` from the solver options."""
    name = config.getoption("stochrobust_solver")
    level = config.getoption("stochrobust_level")
    steps = config.getoption("stochrobust_steps")
    restarts = config.getoption("stochrobust_restarts")
    if name is None and (level, steps, restarts) == (None, None, None):
        return {"name": None}
    budget = None if level is None else (int(level) if level.isdigit() else level)
    return {"name": name or "protocol", "budget": budget, "steps": steps, "restarts": restarts}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--stochrobust-budget`` and ``--stochrobust-seed`` and their ini keys."""
    group = parser.getgroup("stochrobust", "stochrobust sensitivity tests")
    group.addoption(
        "--stochrobust-budget",
        action="store",
        type=float,
        default=None,
        dest="stochrobust_budget",
        metavar="FACTOR",
        help="scale the steps of the attack solvers in stochrobust.testing assertions "
        "(> 0; default: ini stochrobust_budget, else 1.0)",
    )
    group.addoption(
        "--stochrobust-seed",
        action="store",
        type=int,
        default=None,
        dest="stochrobust_seed",
        metavar="SEED",
        help="seed of the sr_generator fixture and of the default generator of the "
        "stochrobust.testing assertions (>= 0; default: ini stochrobust_seed, else 0)",
    )
    group.addoption(
        "--stochrobust-solver",
        choices=SOLVER_NAMES,
        default=None,
        dest="stochrobust_solver",
        help="attack of the stochrobust.testing assertions (default: protocol)",
    )
    group.addoption(
        "--stochrobust-level",
        default=None,
        dest="stochrobust_level",
        metavar="LEVEL",
        help="budget of the protocol: fast, default, thorough or evaluations per input",
    )
    group.addoption(
        "--stochrobust-steps", type=int, default=None, dest="stochrobust_steps", metavar="N",
        help="steps per restart of a non-protocol --stochrobust-solver",
    )  # fmt: skip
    group.addoption(
        "--stochrobust-restarts", type=int, default=None, dest="stochrobust_restarts",
        metavar="N", help="restarts of a non-protocol --stochrobust-solver",
    )  # fmt: skip
    parser.addini("stochrobust_budget", "default of --stochrobust-budget", default="1.0")
    parser.addini("stochrobust_seed", "default of --stochrobust-seed", default="0")


def _setting(config: pytest.Config, name: str, kind: type[float] | type[int]) -> float:
    value = config.getoption(name)
    where = f"--{name.replace('_', '-')}"
    if value is None:
        raw = config.getini(name)
        where = f"ini option {name}"
        try:
            value = kind(str(raw).strip())
        except ValueError:
            raise pytest.UsageError(
                f"{where}: expected {'a number' if kind is float else 'an integer'}, got {raw!r}"
            ) from None
    ok = (value > 0 and math.isfinite(value)) if kind is float else value >= 0
    if not ok:
        expected = "a finite number > 0" if kind is float else "an integer >= 0"
        raise pytest.UsageError(f"{where}: expected {expected}, got {value!r}")
    return float(value)


def pytest_configure(config: pytest.Config) -> None:
    """Read and validate the options; make them the session defaults of the assertions."""
    from stochrobust.testing import session

    settings = _Settings(
        _setting(config, "stochrobust_budget", float),
        int(_setting(config, "stochrobust_seed", int)),
    )
    options = _solver_options(config)
    try:
        previous_solver = session.set_solver(**options)  # type: ignore[arg-type]
    except (ValueError, TypeError) as err:  # RangeError, StochRobustTypeError
        raise pytest.UsageError(f"--stochrobust-solver: {err}") from None
    config.stash[_SETTINGS] = settings
    config.stash[_PREVIOUS] = (
        session.set_budget(settings.budget),
        session.set_seed(settings.seed),
        previous_solver,
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore the session defaults that were active before this pytest session."""
    previous = config.stash.get(_PREVIOUS, None)
    if previous is not None:
        from stochrobust.testing import session

        session.set_budget(previous[0])
        session.set_seed(previous[1])
        session.set_solver(**(previous[2] or {"name": None}))  # type: ignore[arg-type]


def pytest_report_header(config: pytest.Config) -> str | None:
    """One header line with the budget and the seed."""
    settings = config.stash.get(_SETTINGS, None)
    if settings is None:
        return None
    return f"stochrobust: budget {settings.budget:g}, seed {settings.seed}"


def _settings(request: pytest.FixtureRequest) -> _Settings:
    settings = request.config.stash.get(_SETTINGS, None)
    return settings if settings is not None else _Settings(1.0, 0)


@pytest.fixture
def sr_seed(request: pytest.FixtureRequest) -> int:
    """The session seed (``--stochrobust-seed``, ini ``stochrobust_seed``, default 0)."""
    return _settings(request).seed


@pytest.fixture
def sr_budget(request: pytest.FixtureRequest) -> float:
    """The session budget (``--stochrobust-budget``, ini ``stochrobust_budget``, default 1)."""
    return _settings(request).budget


@pytest.fixture
def sr_generator(sr_seed: int) -> torch.Generator:
    """A fresh CPU ``torch.Generator`` seeded with ``sr_seed`` (the same in every test)."""
    import torch

    return torch.Generator().manual_seed(sr_seed)
