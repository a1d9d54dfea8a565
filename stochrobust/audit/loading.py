"""Load the model and the inputs of ``stochrobust audit`` without unpickling anything.

- Models: ``package.module:factory`` (imported with :mod:`importlib`, the factory is
  called without arguments) or a TorchScript file (:func:`torch.jit.load`).
- Inputs: a ``.pt`` tensor (``torch.load(weights_only=True)``: plain tensors only, never
  arbitrary pickled objects), a ``.npy`` array (``numpy.load(allow_pickle=False)``) or a
  folder of PNG images (read with Pillow, else matplotlib) as ``(N, C, H, W)`` floats in
  ``[0, 1]``.

Failures raise :class:`~stochrobust.ModelError` (the model), :class:`ValueError`
subclasses (malformed inputs) or :class:`FileNotFoundError`, each with a one-line message.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from stochrobust._checks import (
    ModelError,
    ShapeError,
    StochRobustTypeError,
    check_finite,
    describe,
)
from stochrobust.estimator import Estimator

__all__ = ["load_inputs", "load_model"]

TENSOR_SUFFIXES = (".pt", ".pth")
MODEL_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".torchscript")


def _oneline(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _move(model: object, device: torch.device) -> None:
    if isinstance(model, torch.nn.Module):
        model.to(device)


def load_model(spec: str, device: str | torch.device = "cpu") -> Callable[..., torch.Tensor]:
    """Load a model from ``package.module:factory`` or a TorchScript file.

    A ``module:factory`` spec imports ``module`` (from ``sys.path``), looks up ``factory``
    (dotted attributes allowed, e.g. ``pkg.models:Zoo.small``) and calls it without
    arguments; it may return an ``nn.Module``, any callable or an
    :class:`~stochrobust.Estimator` (for stochastic models). A path to an existing file is
    loaded with ``torch.jit.load``. ``nn.Module`` results are moved to ``device``.

    Args:
        spec: ``"package.module:factory"`` or a path to a TorchScript file.
        device: the device to load the model on.

    Returns:
        The model (or the estimator the factory returned).

    Raises:
        ModelError: the file is not TorchScript, the module cannot be imported, the factory
            is missing, not callable, fails, or returns something that is not callable.
        FileNotFoundError: ``spec`` names a model file that does not exist.

    Examples:
        >>> model = load_model("torch.nn:Identity")
        >>> model(torch.ones(1, 2)).tolist()
        [[1.0, 1.0]]
    """
    dev = torch.device(device)
    path = Path(spec)
    if path.is_file():
        try:
            with warnings.catch_warnings():  # torch 2.10+: "torch.jit.load is deprecated"
                warnings.filterwarnings(
                    "ignore", message=".*jit.*deprecated", category=FutureWarning
                )
                return torch.jit.load(str(path), map_location=dev)  # type: ignore[no-untyped-call,no-any-return]
        except Exception as exc:
            raise ModelError(
                f"MODEL: expected a TorchScript file, could not load {spec!r}: {_oneline(exc)}"
            ) from exc
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        if path.suffix.lower() in MODEL_SUFFIXES or path.parent != Path("."):
            raise FileNotFoundError(f"MODEL: no such TorchScript file: {spec!r}")
        raise ModelError(
            f"MODEL: expected 'package.module:factory' or a TorchScript file, got {spec!r}"
        )
    try:
        obj: object = importlib.import_module(module_name)
    except Exception as exc:
        raise ModelError(f"MODEL: cannot import module {module_name!r}: {_oneline(exc)}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelError(f"MODEL: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelError(f"MODEL: expected {spec!r} to be a callable factory, got {describe(obj)}")
    try:
        model = obj()
    except Exception as exc:
        raise ModelError(f"MODEL: factory {spec!r} failed: {_oneline(exc)}") from exc
    if isinstance(model, Estimator):
        _move(model.model, dev)
        return model
    if not callable(model):
        raise ModelError(
            f"MODEL: expected factory {spec!r} to return a model (an nn.Module or a callable), "
            f"got {describe(model)}"
        )
    _move(model, dev)
    return model  # type: ignore[no-any-return]


def _as_batch(data: object, source: str) -> torch.Tensor:
    """Validate a loaded array as a finite floating batch ``(N, ...)`` with ``N ≥ 1``."""
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in "fiub":
            raise StochRobustTypeError(
                f"--input: expected a numeric array in {source}, got dtype {data.dtype}"
            )
        data = torch.from_numpy(np.ascontiguousarray(data))
    if not isinstance(data, torch.Tensor):
        raise StochRobustTypeError(
            f"--input: expected a tensor in {source}, got {type(data).__name__}"
        )
    t = data
    if t.dtype == torch.uint8:
        t = t.float() / 255.0  # 8-bit images
    elif not t.is_floating_point():
        raise StochRobustTypeError(
            f"--input: expected a floating-point or uint8 tensor in {source}, got dtype {t.dtype}"
        )
    elif t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    if t.ndim < 2 or t.shape[0] == 0 or 0 in t.shape:
        raise ShapeError(
            f"--input: expected a non-empty batch (N, C, H, W) or (N, D) in {source}, "
            f"got shape {tuple(t.shape)}"
        )
    check_finite(t, f"--input ({source})")
    return t


def _read_png(path: Path) -> np.ndarray:
    """One PNG as a float32 array ``(C, H, W)`` in ``[0, 1]``; alpha dropped."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow ships with matplotlib
        import matplotlib.image

        arr = np.asarray(matplotlib.image.imread(str(path)), dtype=np.float32)
    else:
        with Image.open(path) as img:
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit gray
                arr = (np.asarray(img, dtype=np.float64) / 65535.0).astype(np.float32)
            elif img.mode in ("1", "L", "LA"):
                arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
            else:
                arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] in (2, 4):  # gray + alpha, RGB + alpha
        arr = arr[:, :, : arr.shape[2] - 1]
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def _load_png_folder(folder: Path) -> tuple[torch.Tensor, list[str]]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")
    if not files:
        raise FileNotFoundError(f"--input: no PNG images in folder {str(folder)!r}")
    arrays = []
    for f in files:
        try:
            arrays.append(_read_png(f))
        except Exception as exc:
            raise ValueError(f"--input: cannot read PNG {f.name!r}: {_oneline(exc)}") from exc
        if arrays[-1].shape != arrays[0].shape:
            s0 = "x".join(map(str, arrays[0].shape))
            s1 = "x".join(map(str, arrays[-1].shape))
            raise ShapeError(
                f"--input: expected PNG images of the same size, got {files[0].name} ({s0}, CxHxW) "
                f"and {f.name} ({s1})"
            )
    batch = _as_batch(np.stack(arrays), f"folder {str(folder)!r}")
    return batch, [f.name for f in files]


def load_inputs(path: str | Path) -> tuple[torch.Tensor, list[str]]:
    """Load the inputs of an audit: a ``.pt``/``.npy`` tensor or a folder of PNG images.

    ``.pt`` files are read with ``torch.load(weights_only=True)`` and must hold a tensor;
    ``.npy`` files with ``numpy.load(allow_pickle=False)``. ``uint8`` data is divided by
    255; half precision becomes float32. PNG folders: every ``*.png`` in the folder (sorted
    by name), gray → 1 channel, colour → 3 channels (alpha dropped), values in ``[0, 1]``;
    all images must have the same size and channel count.

    Args:
        path: the file or folder.

    Returns:
        ``(inputs, names)``: a CPU tensor ``(N, ...)`` and one name per input (file names
        for PNG folders, ``"0"``, ``"1"``, ... for tensors).

    Raises:
        FileNotFoundError: no such file or folder, or a folder without PNG images.
        ValueError: an unreadable file or an unsupported format (message starts with
            ``--input:``); :class:`~stochrobust.ShapeError` for mismatched or malformed
            shapes and :class:`~stochrobust.NonFiniteError` for NaN/Inf values.

    Shape:
        - result: ``(N, C, H, W)`` for PNG folders, ``(N, ...)`` as stored for tensors.

    Examples:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "y.npy")
        >>> np.save(f, np.zeros((2, 1, 4, 4), dtype=np.float32))
        >>> x, names = load_inputs(f)
        >>> tuple(x.shape), names
        ((2, 1, 4, 4), ['0', '1'])
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--input: no such file or folder: {str(p)!r}")
    if p.is_dir():
        return _load_png_folder(p)
    suffix = p.suffix.lower()
    source = f"file {str(p)!r}"
    if suffix in TENSOR_SUFFIXES:
        try:
            data = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(
                f"--input: expected a file saved with torch.save(tensor) (loaded with "
                f"weights_only=True), could not load {str(p)!r}: {_oneline(exc)}"
            ) from exc
    elif suffix == ".npy":
        try:
            data = np.load(p, allow_pickle=False)
        except Exception as exc:
            raise ValueError(
                f"--input: could not load {str(p)!r} as a .npy array (allow_pickle=False): "
                f"{_oneline(exc)}"
            ) from exc
    else:
        raise ValueError(
            f"--input: expected a .pt/.pth tensor, a .npy array or a folder of PNG images, "
            f"got {str(p)!r}"
        )
    t = _as_batch(data, source)
    return t, [str(i) for i in range(t.shape[0])]


def parse_shape(text: str, name: str) -> tuple[int, ...]:
    """``"3,16,16"`` → ``(3, 16, 16)``; sizes must be positive integers."""
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(","))
    except ValueError:
        raise ShapeError(f"{name}: expected sizes like 3,16,16, got {text!r}") from None
    if not shape or any(s < 1 for s in shape):
        raise ShapeError(f"{name}: expected positive sizes like 3,16,16, got {text!r}")
    return shape
