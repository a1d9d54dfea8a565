"""The model-state guard and the typed wrapping of model failures.

:func:`guard` is entered once per public call (``sensitivity_at``, ``robustness``, the
smoothing functions, the regulariser, ...). It finds every ``nn.Module`` the call can reach
(:func:`stochrobust._discover.find_modules`), puts them in eval mode, freezes their
parameters and swaps their buffers for clones, and restores all of it on exit, also when an
exception propagates. It is re-entrant: while a guard with at least the same protections is
active on the same callable (or on all the modules an inner entry finds), an inner entry is
a no-op, so :class:`~stochrobust.Estimator` can guard its own public methods at no cost when
a library function already did.

The guard also carries the *call context* (the public entry point, the argument that named
the model, the evaluation stage). :func:`run_model` — the one place where stochrobust calls
a user model — turns any exception the model raises into a
:class:`~stochrobust.ModelError` naming that context, the input and the likely fix, and
checks that the output is a real floating tensor with the input's batch.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from stochrobust._discover import find_modules
from stochrobust.errors import GuardWarning, ModelError, ShapeError, StochRobustError

__all__ = [
    "CallContext",
    "check_input_rank",
    "current",
    "frozen",
    "guard",
    "run_model",
    "stage",
]


@dataclass
class CallContext:
    """Where a model call happens: entry point, the model's public argument, stage."""

    entry: str
    arg: str
    stage: str = "evaluation"
    calls: int = 0
    dtype: torch.dtype | None = None
    device: torch.device | None = None
    roots: list[nn.Module] = field(default_factory=list)


@dataclass
class _Frame:
    key: int
    flags: tuple[bool, bool, bool]
    module_ids: frozenset[int] = field(default_factory=frozenset)


_FRAMES: contextvars.ContextVar[tuple[_Frame, ...]] = contextvars.ContextVar(
    "stochrobust_guard_frames", default=()
)
_CONTEXT: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "stochrobust_call_context", default=None
)
_WARNED: set[str] = set()
ENTRIES = [0]
"""Count of full (not no-op) guard entries, read by ``benchmarks/guard_overhead.py``."""


def current() -> CallContext | None:
    """The active call context, or ``None`` outside every guard."""
    return _CONTEXT.get()


def _covers(outer: tuple[bool, bool, bool], inner: tuple[bool, bool, bool]) -> bool:
    return all(o or not i for o, i in zip(outer, inner, strict=True))


def _param_info(roots: list[nn.Module]) -> tuple[torch.dtype | None, torch.device | None]:
    for root in roots:
        for p in root.parameters():
            if p.is_floating_point():
                return p.dtype, p.device
    return None, None


@contextlib.contextmanager
def guard(
    *objects: object,
    entry: str,
    arg: str = "estimator",
    eval_mode: bool = True,
    freeze: bool = True,
    buffers: bool = True,
    declared: bool = False,
) -> Iterator[CallContext]:
    """Guard the state of every module that ``objects`` can reach for one public call.

    Args:
        objects: the model (or estimator) and any explicit modules.
        entry: the public entry point, named in errors (e.g. ``"sensitivity_at"``).
        arg: the public argument that passed the model (``"estimator"`` or ``"model"``).
        eval_mode: put the modules in eval mode.
        freeze: set ``requires_grad=False`` on their parameters.
        buffers: swap their buffers for clones, put back on exit (nothing the call does
            reaches the caller's running statistics or counters). In eval mode the built-in
            ``torch.nn`` layers, which never write buffers there, keep theirs (no copy).
        declared: the modules were declared explicitly (``Estimator(modules=...)``): no
            :class:`~stochrobust.GuardWarning` when none is found.

    Yields:
        The call context (an outer one when nested).
    """
    flags = (eval_mode, freeze, buffers)
    frames = _FRAMES.get()
    key = id(objects[0]) if len(objects) == 1 else hash(tuple(id(o) for o in objects))
    ctx = _CONTEXT.get()
    ctx_token = None
    if ctx is None:
        ctx = CallContext(entry, arg)
        ctx_token = _CONTEXT.set(ctx)
    try:
        if not any(flags) or any(f.key == key and _covers(f.flags, flags) for f in frames):
            yield ctx
            return
        found = find_modules(*objects)
        if not (declared or found.roots) and found.opaque and found.opaque[0] not in _WARNED:
            _WARNED.add(found.opaque[0])
            warnings.warn(
                f"{arg}: found no torch.nn.Module inside the callable {found.opaque[0]!r}, so "
                f"{entry} cannot guard its state (mode, requires_grad, buffers); pass "
                "Estimator(model, modules=[...]) to name the modules it uses, or modules=() "
                "if it holds none",
                GuardWarning,
                stacklevel=4,
            )
        active = frozenset().union(*(f.module_ids for f in frames if _covers(f.flags, flags)))
        if found.roots and all(id(r) in active for r in found.roots):
            yield ctx
            return
        with _enter(found.roots, found.modules, key, flags, frames) as (dtype, device):
            if ctx.dtype is None:
                ctx.dtype, ctx.device = dtype, device
                ctx.roots = found.roots
            yield ctx
    finally:
        if ctx_token is not None:
            _CONTEXT.reset(ctx_token)


@contextlib.contextmanager
def _enter(
    roots: list[nn.Module],
    modules: list[nn.Module],
    key: int,
    flags: tuple[bool, bool, bool],
    frames: tuple[_Frame, ...],
) -> Iterator[tuple[torch.dtype | None, torch.device | None]]:
    eval_mode, freeze, buffers = flags
    ENTRIES[0] += 1
    modes = [(m, m.training) for m in modules]
    params = {id(p): p for m in modules for p in m._parameters.values() if p is not None}
    grads = [(p, p.requires_grad) for p in params.values()] if freeze else []
    swapped: list[tuple[dict[str, torch.Tensor | None], str, torch.Tensor]] = []
    token = _FRAMES.set((*frames, _Frame(key, flags, frozenset(map(id, modules)))))
    try:
        # Only flags that must change are written, straight into the instance dict (what
        # nn.Module.train() sets, without the slow nn.Module.__setattr__).
        if eval_mode:
            for m, mode in modes:
                if mode:
                    m.__dict__["training"] = False
        for p, req in grads:
            if req:
                p.requires_grad_(False)
        if buffers:
            for m in modules:
                if eval_mode and type(m).__module__.startswith("torch.nn.modules."):
                    continue  # built-in layers never write their buffers in eval mode
                for name, buf in m._buffers.items():
                    if buf is not None:
                        swapped.append((m._buffers, name, buf))
            for table, name, buf in swapped:
                table[name] = buf.clone()
        yield _param_info(roots)
    finally:
        for table, name, buf in swapped:
            table[name] = buf
        for m, mode in modes:
            if m.training != mode:
                m.__dict__["training"] = mode
        for p, req in grads:
            if p.requires_grad != req:
                p.requires_grad_(req)
        _FRAMES.reset(token)


@contextlib.contextmanager
def frozen(
    model: object,
    *,
    eval_mode: bool = True,
    freeze_parameters: bool = True,
    protect_buffers: bool = True,
) -> Iterator[None]:
    """Evaluate ``model`` in eval mode with frozen parameters, restoring its state on exit.

    On entry every module that ``model`` can reach (the discovery rules of the "Model
    state" section of the estimator guide: the module itself, bound methods, partials,
    closures, the globals a function refers to, attributes of wrapper objects, containers)
    is put into eval mode (BatchNorm uses, and does not update, its running statistics;
    dropout is off), every parameter gets ``requires_grad=False`` (backward passes compute
    no weight gradients and leave ``.grad`` untouched) and every buffer is swapped for a
    clone. On exit, also when an exception propagates, each module's own ``training``
    flag, each parameter's ``requires_grad`` and each original buffer tensor are put back
    exactly as they were. Nested entries on the same model are free.

    Args:
        model: an ``nn.Module`` or any callable holding modules (see above).
        eval_mode: switch the modules to eval mode.
        freeze_parameters: set ``requires_grad=False`` on the parameters.
        protect_buffers: evaluate on clones of the buffers, discarded on exit.

    Yields:
        Nothing; use as a context manager.

    Raises:
        ModelError: from a model call inside the block (see :func:`run_model`).

    References:
        [O23] App. E.2.3: the attack only perturbs the input; the model is left unchanged.

    Examples:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)).train()
        >>> with frozen(lambda y: net(y)):
        ...     (net.training, next(net.parameters()).requires_grad)
        (False, False)
        >>> (net.training, next(net.parameters()).requires_grad)
        (True, True)
    """
    with guard(
        model,
        entry="frozen",
        arg="model",
        eval_mode=eval_mode,
        freeze=freeze_parameters,
        buffers=protect_buffers,
    ):
        yield


@contextlib.contextmanager
def stage(label: str) -> Iterator[None]:
    """Name the evaluation stage (``"clean pass"``, ``"perturbed pass"``, ...) for errors."""
    ctx = _CONTEXT.get()
    if ctx is None:
        yield
        return
    before, calls = ctx.stage, ctx.calls
    ctx.stage, ctx.calls = label, 0
    try:
        yield
    finally:
        ctx.stage, ctx.calls = before, calls


def _likely_fix(exc: BaseException, y: torch.Tensor, z: object, ctx: CallContext) -> str:
    text = str(exc)
    if isinstance(exc, TypeError) and z is None and "argument" in text:
        return (
            "the model seems to need a seed: a stochastic model needs seeds, pass "
            "Estimator(model, seed_shape=...) (or seed_sampler=...)"
        )
    if ctx.dtype is not None and y.is_floating_point() and y.dtype != ctx.dtype:
        return (
            f"y has dtype {y.dtype} but the model's parameters have dtype {ctx.dtype}: pass "
            f"y.to({ctx.dtype}) or convert the model"
        )
    if ctx.device is not None and y.device != ctx.device:
        return (
            f"y is on {y.device} but the model's parameters are on {ctx.device}: move y "
            "or the model"
        )
    if any(w in text.lower() for w in ("shape", "size", "dimension", "channel", "expected")):
        return (
            "check y's shape: stochrobust passes batches (B, *in_shape), batch first "
            "(B·n rows with n seeds); a single image needs y.unsqueeze(0)"
        )
    return "run the model on y directly to debug it; the original exception is chained"


_UNBATCHED = {1: (nn.Conv1d, nn.ConvTranspose1d), 2: (nn.Conv2d, nn.ConvTranspose2d)}


def check_input_rank(y: torch.Tensor, name: str = "y") -> None:
    """Refuse an input that a convolution of the guarded model would read as unbatched.

    ``nn.Conv2d`` accepts a 3-D ``(C, H, W)`` tensor as one image, so a single RGB image
    passed without its batch dimension would silently give ``C`` "per-sample" values. The
    check fires when ``y`` has one dimension less than the first convolution's batched
    input and its leading size equals that convolution's ``in_channels``.
    """
    ctx = _CONTEXT.get()
    if ctx is None:
        return
    kinds = _UNBATCHED.get(y.ndim - 1, ())
    first = next((m for r in ctx.roots for m in r.modules() if isinstance(m, kinds)), None)
    if first is not None and first.in_channels == y.shape[0]:
        raise ShapeError(
            f"{name}: expected a batch (B, C, *spatial) for a model whose first convolution "
            f"({type(first).__name__}) reads {first.in_channels} channels, got a "
            f"{y.ndim}-D tensor of shape {tuple(y.shape)}, which it reads as one unbatched "
            f"input; pass {name}.unsqueeze(0) for a single input"
        )


def run_model(
    model: Callable[..., object], y: torch.Tensor, z: object, chunk: str = ""
) -> torch.Tensor:
    """Call ``model(y)`` (``z is None``) or ``model(y, z)``; type the failures.

    Exceptions of the model become :class:`~stochrobust.ModelError` naming the entry point,
    the stage (and ``chunk``), ``y``'s shape, dtype and device and the likely fix, with the
    original exception chained; stochrobust's own errors pass through unchanged. The output
    must be a real floating-point tensor with ``y``'s batch size.
    """
    ctx = _CONTEXT.get() or CallContext("Estimator", "model")
    ctx.calls += 1
    where = f"{ctx.entry}, {ctx.stage} (model call {ctx.calls}{chunk})"
    try:
        out = model(y) if z is None else model(y, z)
    except StochRobustError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{ctx.arg}: expected a model that runs on y of shape {tuple(y.shape)}, dtype "
            f"{y.dtype}, device {y.device} in {where}, got {type(exc).__name__}: "
            f"{' '.join(str(exc).split())}. "
            f"Likely fix: {_likely_fix(exc, y, z, ctx)}"
        ) from exc
    if not isinstance(out, torch.Tensor):
        raise ModelError(
            f"{ctx.arg}: expected to return a torch.Tensor in {where}, got {type(out).__name__}"
        )
    if not out.is_floating_point():
        raise ModelError(
            f"{ctx.arg}: expected to return a real floating-point tensor in {where}, "
            f"got dtype {out.dtype}. Likely fix: return a float tensor (e.g. out.float(), or "
            "out.real for a complex one)"
        )
    if out.ndim < 1 or out.shape[0] != y.shape[0]:
        raise ModelError(
            f"{ctx.arg}: expected an output batch of {y.shape[0]} rows for an input of shape "
            f"{tuple(y.shape)} in {where}, got shape {tuple(out.shape)}. Likely fix: the model "
            "must keep the batch dimension first"
        )
    return out
