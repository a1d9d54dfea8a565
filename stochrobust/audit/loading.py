"""Load the model of ``stochrobust audit``; no pickle is unpickled outside ``weights_only``.

Model sources (see :func:`model_source`):

- a ``torch.export`` archive (``.pt2``, :func:`torch.export.load`, with every
  ``torch.load`` inside it forced to ``weights_only=True`` and archives holding pickled
  Python objects refused);
- a TorchScript archive (:func:`torch.jit.load`; TorchScript code runs in the TorchScript
  interpreter: load archives from trusted sources only);
- ``package.module:factory`` or ``path/to/file.py:factory``: the module is **imported and
  its code executed**, then the factory is called without arguments; optionally followed
  by a ``state_dict`` from a weights file (:func:`load_weights`, ``weights_only=True``).

A plain ``torch.save`` checkpoint given as the model is recognised and refused with a hint
(it holds weights, not an architecture). Failures raise :class:`~stochrobust.ModelError`
or :class:`FileNotFoundError` with a one-line message.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from stochrobust._checks import describe
from stochrobust.errors import ModelError
from stochrobust.estimator import Estimator

__all__ = ["WEIGHT_KEYS", "load_model", "load_weights", "model_source", "oneline"]

WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "params_ema",
               "ema", "generator", "g_ema", "params")  # fmt: skip
"""Keys under which checkpoints commonly hold their ``state_dict`` (tried in this order)."""

_FACTORY = re.compile(r"^(?P<target>.+?):(?P<attr>[A-Za-z_][\w.]*)$")


def oneline(exc: BaseException) -> str:
    r"""``"TypeName: message"`` on one line (whitespace collapsed, at most ~400 characters).

    Args:
        exc: the exception.

    Returns:
        The line.

    Examples:
        >>> oneline(ValueError("bad\n  input"))
        'ValueError: bad input'
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # torch's bold ANSI codes
    if "WeightsUnpickler error:" in text:  # torch.load(weights_only=True): keep the reason
        text = "weights_only load failed: " + text.split("WeightsUnpickler error:", 1)[1]
        text = text.split("Please use `torch.serialization.add_safe_globals", 1)[0]
    text = " ".join(text.split())
    if len(text) > 400:
        text = text[:399] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _zip_names(path: Path) -> list[str] | None:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return None


def model_source(spec: str) -> str:
    """Which kind of model ``spec`` names, without loading or executing anything.

    Args:
        spec: the ``MODEL`` argument of ``stochrobust audit``.

    Returns:
        ``"export"`` (a ``torch.export`` archive), ``"torchscript"``, ``"checkpoint"`` (a
        ``torch.save`` file: weights, not a model), ``"file"`` (``path/to/file.py:factory``),
        ``"module"`` (``package.module:factory``) or ``"unknown"`` (an existing file of
        another format).

    Raises:
        FileNotFoundError: ``spec`` looks like a path to a file that does not exist.
        ModelError: ``spec`` is neither a file nor ``module:factory``.

    Examples:
        >>> model_source("torch.nn:Identity"), model_source("nets/model.py:make")
        ('module', 'file')
    """
    path = Path(spec)
    if path.is_file():
        names = _zip_names(path)
        if names is None:
            return "unknown"
        tails = {n.split("/", 1)[-1] for n in names}
        if "archive_format" in tails or path.suffix.lower() == ".pt2":
            return "export"
        if "constants.pkl" in tails and any(n.startswith("code/") for n in tails):
            return "torchscript"
        return "checkpoint" if "data.pkl" in tails else "unknown"
    match = _FACTORY.match(spec)
    if match is not None and match["target"].endswith(".py"):
        return "file"
    if match is not None and re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", match["target"]):
        return "module"
    if path.suffix or os.sep in spec or "/" in spec:
        raise FileNotFoundError(f"MODEL: no such model file: {spec!r}")
    raise ModelError(
        f"MODEL: expected a .pt2 / TorchScript file, 'package.module:factory' or "
        f"'path/to/file.py:factory', got {spec!r}"
    )


@contextmanager
def _weights_only_loads() -> Iterator[None]:
    """Force every ``torch.load`` to ``weights_only=True`` (torch's own switch)."""
    old = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = old


def _load_export(path: Path, device: torch.device) -> Callable[..., torch.Tensor]:
    names = _zip_names(path) or []
    pickled = [n for n in names if "/constants/" in n and n.rsplit("/", 1)[-1].startswith(
        ("custom_obj", "opaque_obj"))]  # fmt: skip
    if pickled:
        raise ModelError(
            f"MODEL: refused {str(path)!r}: the archive holds pickled Python objects "
            f"({pickled[0].rsplit('/', 1)[-1]}), which stochrobust never unpickles"
        )
    try:
        with _weights_only_loads():
            program = torch.export.load(str(path))
        module = program.module()
    except Exception as exc:
        raise ModelError(
            f"MODEL: could not load the torch.export archive {str(path)!r} (pickles inside "
            f"are loaded with weights_only=True): {oneline(exc)}"
        ) from exc
    module.to(device)
    return module


def _load_torchscript(path: Path, device: torch.device) -> Callable[..., torch.Tensor]:
    try:
        with warnings.catch_warnings():  # torch 2.10+: "torch.jit.load is deprecated"
            warnings.filterwarnings("ignore", message=".*jit.*deprecated", category=FutureWarning)
            return torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call,no-any-return]
    except Exception as exc:
        raise ModelError(
            f"MODEL: could not load the TorchScript file {str(path)!r}: {oneline(exc)}"
        ) from exc


def _import_target(kind: str, target: str) -> object:
    if kind == "module":
        try:
            return importlib.import_module(target)
        except Exception as exc:
            raise ModelError(f"MODEL: cannot import module {target!r}: {oneline(exc)}") from exc
    file = Path(target)
    if not file.is_file():
        raise FileNotFoundError(f"MODEL: no such factory file: {target!r}")
    name = f"_stochrobust_audit_{file.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise ModelError(f"MODEL: cannot import {target!r}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelError(f"MODEL: cannot import {target!r}: {oneline(exc)}") from exc
    return module


def _call_factory(spec: str, kind: str) -> object:
    match = _FACTORY.match(spec)
    assert match is not None
    target, attr = match["target"], match["attr"]
    obj = _import_target(kind, target)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelError(f"MODEL: {target!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelError(f"MODEL: expected {spec!r} to be a callable factory, got {describe(obj)}")
    try:
        model = obj()
    except Exception as exc:
        raise ModelError(f"MODEL: factory {spec!r} failed: {oneline(exc)}") from exc
    if not callable(model):
        raise ModelError(
            f"MODEL: expected factory {spec!r} to return a model (an nn.Module or a callable), "
            f"got {describe(model)}"
        )
    return model


def _is_state_dict(obj: object) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def load_weights(path: str | Path, *, key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a ``state_dict`` from a checkpoint with ``torch.load(weights_only=True)``.

    The file holds a ``state_dict`` or a dict with one under ``key`` (dots descend into
    nested dicts, ``"ema.model"``); without ``key`` the common keys :data:`WEIGHT_KEYS` are
    tried, and if several hold a ``state_dict`` the choice is left to the caller.

    Args:
        path: the checkpoint (``torch.save`` format).
        key: where the ``state_dict`` sits in the checkpoint, or ``None``.

    Returns:
        The ``state_dict`` (CPU tensors).

    Raises:
        FileNotFoundError: no such file.
        ModelError: the file cannot be loaded with ``weights_only=True`` (e.g. it pickles
            arbitrary objects), ``key`` is missing, or no (or more than one) ``state_dict``
            is found.

    Examples:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
        >>> torch.save({"epoch": 3, "model": torch.nn.Linear(2, 1).state_dict()}, f)
        >>> sorted(load_weights(f))
        ['bias', 'weight']
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--weights: no such file: {str(p)!r}")
    try:
        obj: object = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(
            f"--weights: expected a checkpoint loadable with torch.load(weights_only=True), "
            f"could not load {str(p)!r}: {oneline(exc)}"
        ) from exc
    if key is not None:
        for part in key.split("."):
            if not isinstance(obj, Mapping) or part not in obj:
                found = sorted(map(str, obj)) if isinstance(obj, Mapping) else describe(obj)
                raise ModelError(f"--weights-key: expected a key of the checkpoint, got "
                                 f"{key!r} (keys: {found})")  # fmt: skip
            obj = obj[part]
    elif not _is_state_dict(obj) and isinstance(obj, Mapping):
        hits = [k for k in WEIGHT_KEYS if _is_state_dict(obj.get(k))]
        if len(hits) > 1:
            raise ModelError(
                f"--weights: the checkpoint holds several state_dicts ({', '.join(hits)}); "
                "choose one with --weights-key"
            )
        if hits:
            obj = obj[hits[0]]
    if not _is_state_dict(obj):
        keys = f" (keys: {sorted(map(str, obj))[:8]})" if isinstance(obj, Mapping) else ""
        raise ModelError(
            f"--weights: expected a state_dict (names → tensors) in {str(p)!r}, got "
            f"{describe(obj)}{keys}; pass --weights-key"
        )
    assert isinstance(obj, Mapping)
    return dict(obj)


def _strip_prefixes(
    state: dict[str, torch.Tensor], wanted: set[str]
) -> tuple[dict[str, torch.Tensor], str]:
    """Strip a common leading ``name.`` (``module.``, ``_orig_mod.``, ...) that ``wanted`` lacks."""
    stripped = ""
    while state and not (set(state) & wanted):
        heads = {k.split(".", 1)[0] for k in state}
        if len(heads) != 1 or not all("." in k for k in state):
            break
        head = heads.pop() + "."
        state = {k[len(head) :]: v for k, v in state.items()}
        stripped += head
    return state, stripped


def _apply_weights(
    model: object, state: dict[str, torch.Tensor], progress: Callable[[str], None]
) -> None:
    module = model.model if isinstance(model, Estimator) else model
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"--weights: expected the factory to return an nn.Module, got "
                         f"{describe(module)}")  # fmt: skip
    wanted = set(module.state_dict())
    state, stripped = _strip_prefixes(state, wanted)
    missing = sorted(wanted - set(state))
    unexpected = sorted(set(state) - wanted)
    if missing or unexpected:

        def few(keys: list[str]) -> str:
            return ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")

        raise ModelError(
            f"--weights: expected the keys of {type(module).__name__}.state_dict(), got "
            f"{len(missing)} missing ({few(missing)}) and {len(unexpected)} unexpected "
            f"({few(unexpected)})" + (f" after stripping {stripped!r}" if stripped else "")
        )
    try:
        module.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ModelError(f"--weights: {oneline(exc)}") from exc
    note = f" (prefix {stripped!r} stripped)" if stripped else ""
    progress(f"loaded {len(state)} tensors into {type(module).__name__}{note}")


def load_model(
    spec: str,
    device: str | torch.device = "cpu",
    *,
    weights: str | Path | None = None,
    weights_key: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Load the model ``spec`` names (see :func:`model_source`), optionally with weights.

    ``module:factory`` and ``file.py:factory`` **execute the module's code** and call the
    factory without arguments; it may return an ``nn.Module``, any callable or an
    :class:`~stochrobust.Estimator`. ``weights`` (factories only) is read by
    :func:`load_weights` and loaded strictly; a common ``module.``-style prefix is
    stripped. ``file.py`` modules are imported by path: nothing is added to ``sys.path``.
    ``nn.Module`` results are moved to ``device``.

    Args:
        spec: a ``.pt2`` or TorchScript file, ``"package.module:factory"`` or
            ``"path/to/file.py:factory"`` (dotted attributes allowed: ``m:Zoo.small``).
        device: the device to load the model on.
        weights: a checkpoint holding a ``state_dict``, or ``None``.
        weights_key: where the ``state_dict`` sits in ``weights``.
        progress: receives one-line notices (``None``: silent).

    Returns:
        The model (or the estimator the factory returned).

    Raises:
        ModelError: the file is not a model archive (a ``torch.save`` checkpoint gets a
            hint), holds pickled objects, the module cannot be imported, the factory is
            missing or fails, or the weights do not match.
        FileNotFoundError: a model or weights file that does not exist.

    Examples:
        >>> model = load_model("torch.nn:Identity")
        >>> model(torch.ones(1, 2)).tolist()
        [[1.0, 1.0]]
    """
    dev = torch.device(device)
    kind = model_source(spec)
    if weights is not None and kind not in ("module", "file"):
        what = {"export": "torch.export archive", "torchscript": "TorchScript file"}
        raise ModelError(
            f"--weights: expected a module:factory or file.py:factory MODEL, got a "
            f"{what.get(kind, kind + ' file')} ({spec!r})"
        )
    if kind == "export":
        return _load_export(Path(spec), dev)
    if kind == "torchscript":
        return _load_torchscript(Path(spec), dev)
    if kind == "checkpoint":
        raise ModelError(
            f"MODEL: {spec!r} is a torch.save checkpoint (weights, not a model): pass the "
            "architecture as package.module:factory or file.py:factory with --weights "
            f"{spec}"
        )
    if kind == "unknown" and spec.endswith(".py"):
        raise ModelError(f"MODEL: expected 'path/to/file.py:factory' for a Python file, got "
                         f"{spec!r} (name the factory after a colon)")  # fmt: skip
    if kind == "unknown":
        raise ModelError(
            f"MODEL: expected a torch.export (.pt2) or TorchScript archive, got {spec!r} "
            "(pickled files are never loaded)"
        )
    model = _call_factory(spec, kind)
    if weights is not None:
        _apply_weights(model, load_weights(weights, key=weights_key), progress or (lambda s: None))
    module = model.model if isinstance(model, Estimator) else model
    if isinstance(module, torch.nn.Module):
        module.to(dev)
    return model
