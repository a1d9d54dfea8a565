"""Discovery of the ``nn.Module`` objects that a model call can reach.

Internal: :func:`find_modules` walks a callable the way the model-state guard needs it
(see the "Model state" section of ``docs/estimator.md`` for the rules as a table):

- an ``nn.Module`` is a root; its submodules come with it, and the non-module attributes
  of every module whose class is not a built-in ``torch.nn`` layer (e.g. the function held
  by :class:`~stochrobust.consistency.Consistent`) are walked too;
- a bound method: its ``__self__``; ``functools.partial``: its function, arguments and
  keywords;
- a Python function or lambda: its closure cells, its default arguments and the global
  names its code (and the code of functions nested in it) refers to;
- any other object: its instance attributes, and the function behind its class's
  ``__call__`` (for the globals that one refers to);
- lists, tuples, sets and dicts: their items.

The walk visits each object once, descends at most :data:`MAX_DEPTH` levels and at most
:data:`MAX_OBJECTS` objects, and never walks into tensors, numbers, strings, Python modules
or classes.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["MAX_DEPTH", "MAX_OBJECTS", "Discovery", "find_modules"]

MAX_DEPTH = 6
"""Nesting depth beyond which the walk stops (a wrapper of a wrapper of ... a module)."""

MAX_OBJECTS = 4096
"""Most objects one discovery visits (bounds the cost for callables holding big data)."""

_LEAVES = (
    torch.Tensor,
    int,
    float,
    complex,
    str,
    bytes,
    bool,
    type(None),
    type,
    types.ModuleType,
    torch.dtype,
    torch.device,
    torch.Generator,
)
_MODULE_INTERNALS = frozenset(vars(nn.Module()))
_TORCH_NN = "torch.nn.modules."
_PLAIN = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial)


class Discovery:
    """Result of :func:`find_modules`: the root modules and the opaque callables found.

    ``opaque`` lists the callable objects met that are not plain functions (whose state
    introspection may only partly see).
    """

    def __init__(self) -> None:
        self.roots: list[nn.Module] = []
        self.modules: list[nn.Module] = []
        self.opaque: list[str] = []
        self._seen: set[int] = set()
        self._budget = MAX_OBJECTS

    def visit(self, obj: object, depth: int) -> None:
        """Walk ``obj`` (see the module docstring for the rules)."""
        if isinstance(obj, _LEAVES) or depth > MAX_DEPTH or self._budget <= 0:
            return
        if id(obj) in self._seen:
            return
        self._seen.add(id(obj))
        self._budget -= 1
        if isinstance(obj, nn.Module):
            self.roots.append(obj)
            for sub in obj.modules():
                if id(sub) in self._seen and sub is not obj:
                    continue
                self._seen.add(id(sub))
                self.modules.append(sub)
                if type(sub).__module__.startswith(_TORCH_NN):
                    continue  # built-in layers hold only configuration besides submodules
                for key, value in vars(sub).items():
                    if key not in _MODULE_INTERNALS and not isinstance(value, _LEAVES):
                        self.visit(value, depth + 1)
            return
        for child in _children(obj):
            self.visit(child, depth + 1)
        if (
            callable(obj)
            and not isinstance(obj, _PLAIN)
            and not type(obj).__module__.startswith("stochrobust.")
        ):
            self.opaque.append(type(obj).__qualname__)


def _code_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


def _function_children(fn: types.FunctionType) -> Iterator[object]:
    for cell in fn.__closure__ or ():
        try:
            yield cell.cell_contents
        except ValueError:  # an empty cell
            continue
    yield from fn.__defaults__ or ()
    yield from (fn.__kwdefaults__ or {}).values()
    scope = fn.__globals__
    for name in dict.fromkeys(_code_names(fn.__code__)):
        if name in scope:
            yield scope[name]


def _children(obj: object) -> Iterator[object]:
    if isinstance(obj, types.FunctionType):
        yield from _function_children(obj)
    elif isinstance(obj, types.MethodType):
        yield obj.__self__
        yield obj.__func__
    elif isinstance(obj, functools.partial):
        yield obj.func
        yield from obj.args
        yield from obj.keywords.values()
    elif isinstance(obj, dict):
        yield from obj.values()
    elif isinstance(obj, (list, tuple, set, frozenset)):
        yield from obj
    elif not isinstance(obj, types.BuiltinFunctionType):
        yield from (getattr(obj, "__dict__", None) or {}).values()
        call = inspect.getattr_static(type(obj), "__call__", None)
        if isinstance(call, types.FunctionType):
            yield call


def find_modules(*objects: object) -> Discovery:
    """Walk ``objects`` and return the :class:`Discovery` of the modules they can reach.

    Args:
        objects: callables (models, estimators, seed samplers) and explicit modules.

    Returns:
        The discovery: ``roots`` (each module once; submodules come with their root),
        ``modules`` (every module reached, each once) and
        ``opaque`` (class names of the user callable objects met, other than modules).

    Examples:
        >>> net = torch.nn.Linear(2, 2)
        >>> [type(m).__name__ for m in find_modules(lambda y: net(y)).roots]
        ['Linear']
    """
    found = Discovery()
    for obj in objects:
        found.visit(obj, 0)
    return found
