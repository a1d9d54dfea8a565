"""Every public signature follows docs/glossary.md: one name per concept.

Walks ``__all__`` of every public subpackage, inspects the signatures of the public
functions, classes (their ``__init__``) and the public methods of those classes, and fails
on a spelling that the glossary replaces (deprecated aliases are accepted only through
``**kwargs``, never as named parameters) and on a ``generator`` that is not keyword-only.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator

import pytest

from stochrobust._deprecate import _UNSET

MODULES = (
    "stochrobust",
    "stochrobust.sensitivity",
    "stochrobust.consistency",
    "stochrobust.smoothing",
    "stochrobust.metrics",
    "stochrobust.testing",
    "stochrobust.inversion",
    "stochrobust.audit",
    "stochrobust.toy",
    "stochrobust.nets",
    "stochrobust.interop.deepinv",
)

# 0.1 spelling → glossary spelling
REPLACED = {
    "norm": "ball",
    "clip": "box",
    "inputs": "y",
    "diversity_samples": "n_seeds",
    "n": "n_seeds or n_samples",
}

# Permanent exemptions, each with its reason (qualified name → exempted parameters).
EXEMPT = {
    # The seed-sampler protocol of Estimator, ``seed_sampler(batch_size, y, generator)``, is
    # positional by contract: Estimator.sample_seeds calls every sampler that way.
    "stochrobust.nets.UNet.seed_sampler": {"generator"},
    "stochrobust.toy.uniform_seed_sampler": {"generator"},
    # Glossary row "data-set size: n": the number of points of a toy data set, neither seeds
    # nor noise draws.
    "stochrobust.toy.sample_disk": {"n"},
    "stochrobust.toy.sample_ellipse_ring": {"n"},
    "stochrobust.toy.sample_square": {"n"},
}

# TEMPORARY (issue 15): spellings left in packages that other branches are editing
# (stochrobust.sensitivity, stochrobust.testing). The lead deletes this list after merging
# them; every entry must then be fixed, not moved to EXEMPT.
TEMPORARY_OTHER_PACKAGES: frozenset[str] = frozenset()


def _public_callables() -> Iterator[tuple[str, object]]:
    seen: set[int] = set()
    for mod_name in MODULES:
        mod = importlib.import_module(mod_name)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if id(obj) in seen or not callable(obj) or isinstance(obj, type(mod)):
                continue
            seen.add(id(obj))
            qual = f"{mod_name}.{name}"
            if inspect.isclass(obj):
                if issubclass(obj, BaseException):
                    continue
                yield qual, obj.__init__
                for meth_name, meth in vars(obj).items():
                    if meth_name.startswith("_") or not callable(meth):
                        continue
                    yield f"{qual}.{meth_name}", meth
            else:
                yield qual, obj


def _check(qual: str, fn: object) -> list[str]:
    """The glossary violations of one signature (exemptions applied)."""
    try:
        sig = inspect.signature(fn)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []
    out = []
    exempt = EXEMPT.get(qual, set())
    for p in sig.parameters.values():
        if p.name in exempt:
            continue
        if p.kind is p.KEYWORD_ONLY and p.default is _UNSET:
            continue  # a deprecated alias: keyword-only, defaulting to the "not passed" sentinel
        if p.name in REPLACED and p.kind is not p.VAR_KEYWORD:
            out.append(f"{qual}({p.name}=...): use {REPLACED[p.name]}")
        if p.name == "generator" and p.kind is not p.KEYWORD_ONLY:
            out.append(f"{qual}(generator): expected keyword-only")
    return out


def _violations() -> list[str]:
    return [v for qual, fn in _public_callables() for v in _check(qual, fn)]


def test_public_signatures_follow_the_glossary() -> None:
    bad = [v for v in _violations() if v not in TEMPORARY_OTHER_PACKAGES]
    assert not bad, "glossary violations:\n" + "\n".join(bad)


def test_allowlists_hold_only_live_entries() -> None:
    """A fixed violation must leave the temporary list; an exemption must name a real one."""
    found = set(_violations())
    assert TEMPORARY_OTHER_PACKAGES <= found, sorted(TEMPORARY_OTHER_PACKAGES - found)
    names = {qual: fn for qual, fn in _public_callables()}
    for qual, params in EXEMPT.items():
        assert params <= set(inspect.signature(names[qual]).parameters), qual  # type: ignore[arg-type]


def test_the_walk_sees_the_main_entry_points() -> None:
    names = {qual for qual, _ in _public_callables()}
    for expected in (
        "stochrobust.sensitivity.sensitivity_at",
        "stochrobust.smoothing.MedianSmoothing",
        "stochrobust.smoothing.MedianSmoothing.certify",
        "stochrobust.metrics.precision_recall",
        "stochrobust.Estimator.sample",
        "stochrobust.interop.deepinv.sampler",
    ):
        assert expected in names


@pytest.mark.parametrize("name", sorted(REPLACED))
def test_the_check_catches_a_replaced_spelling(name: str) -> None:
    ns: dict[str, object] = {}
    exec(f"def bad(y, {name}=None): pass", ns)
    assert _check("bad", ns["bad"]) == [f"bad({name}=...): use {REPLACED[name]}"]


def test_the_check_catches_a_positional_generator_and_accepts_aliases_in_kwargs() -> None:
    def positional(y: object, generator: object = None) -> None: ...

    def keyword(y: object, *, generator: object = None, **kwargs: object) -> None: ...

    assert _check("positional", positional) == ["positional(generator): expected keyword-only"]
    assert _check("keyword", keyword) == []
