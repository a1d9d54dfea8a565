"""Read the inputs of ``stochrobust audit`` without unpickling anything.

- a ``.pt`` tensor (``torch.load(weights_only=True)``: plain tensors only), a ``.npy``
  array (``numpy.load(allow_pickle=False)``);
- one image file or a folder of images (PNG, JPEG, BMP, TIFF; read with Pillow) as
  ``(N, C, H, W)`` floats in ``[0, 1]``.

Shapes are never guessed: a 4-D tensor is a batch ``(N, C, H, W)``, a 3-D tensor is one
input ``(C, H, W)``, and any other rank needs ``batch_dim`` (``--batch-dim yes|no``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from stochrobust._checks import check_finite
from stochrobust.audit.loading import oneline
from stochrobust.errors import ShapeError, StochRobustTypeError

__all__ = ["IMAGE_SUFFIXES", "load_inputs", "parse_shape"]

TENSOR_SUFFIXES = (".pt", ".pth")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""File suffixes read as images (one image per file)."""


def _as_float(data: object, source: str) -> torch.Tensor:
    """Validate a loaded array as a finite floating tensor (``uint8`` → ``/255``)."""
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
    if t.ndim == 0 or 0 in t.shape:
        raise ShapeError(f"--input: expected a non-empty tensor in {source}, got shape "
                         f"{tuple(t.shape)}")  # fmt: skip
    check_finite(t, f"--input ({source})")
    return t


def _as_batch(t: torch.Tensor, source: str, batch_dim: bool | None) -> torch.Tensor:
    """``(N, ...)`` from a tensor: 4-D is a batch, 3-D one input, others need ``batch_dim``."""
    shape = tuple(t.shape)
    if batch_dim is None:
        if t.ndim == 4:
            return t
        if t.ndim == 3:
            return t.unsqueeze(0)
        raise ShapeError(
            f"--input: a tensor of shape {shape} in {source} is ambiguous: expected "
            "(N, C, H, W) or (C, H, W); pass --batch-dim yes (a batch of "
            f"{shape[0]} inputs of shape {shape[1:]}) or --batch-dim no (one input)"
        )
    if batch_dim:
        if t.ndim < 2:
            raise ShapeError(f"--batch-dim: expected a tensor of at least 2 dimensions in "
                             f"{source}, got shape {shape}")  # fmt: skip
        return t
    return t.unsqueeze(0)


def _read_image(path: Path) -> np.ndarray:
    """One image as a float32 array ``(C, H, W)`` in ``[0, 1]``; alpha dropped."""
    from PIL import Image  # imported here: only the inputs that are images need Pillow

    try:
        with Image.open(path) as img:
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit gray
                arr = (np.asarray(img, dtype=np.float64) / 65535.0).astype(np.float32)
            elif img.mode in ("1", "L", "LA"):
                arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
            else:
                arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except Exception as exc:
        raise ValueError(f"--input: cannot read image {path.name!r}: {oneline(exc)}") from exc
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def _load_images(files: list[Path], source: str) -> tuple[torch.Tensor, list[str]]:
    arrays = []
    for f in files:
        arrays.append(_read_image(f))
        if arrays[-1].shape != arrays[0].shape:
            s0 = "x".join(map(str, arrays[0].shape))
            s1 = "x".join(map(str, arrays[-1].shape))
            raise ShapeError(
                f"--input: expected images of the same size, got {files[0].name} ({s0}, CxHxW) "
                f"and {f.name} ({s1})"
            )
    return _as_float(np.stack(arrays), source), [f.name for f in files]


def load_inputs(
    path: str | Path, *, batch_dim: bool | None = None
) -> tuple[torch.Tensor, list[str]]:
    """Load the inputs of an audit: a tensor file, one image or a folder of images.

    ``.pt`` files are read with ``torch.load(weights_only=True)`` and must hold a tensor;
    ``.npy`` files with ``numpy.load(allow_pickle=False)``. ``uint8`` data is divided by
    255; half precision becomes float32. A 4-D tensor is a batch ``(N, C, H, W)``, a 3-D
    tensor one input ``(C, H, W)``; other ranks are ambiguous and need ``batch_dim``
    (``True``: the first dimension indexes the inputs; ``False``: the tensor is one
    input), which also overrides the 3-D / 4-D rule. Images (one file, or every image of
    a folder sorted by name): gray → 1 channel, colour → 3 channels (alpha dropped),
    values in ``[0, 1]``, all of the same size.

    Args:
        path: the file or folder.
        batch_dim: whether a tensor's first dimension indexes the inputs; ``None`` decides
            by rank (3-D or 4-D only).

    Returns:
        ``(y, names)``: a CPU tensor ``(N, ...)`` and one name per input (file names for
        images, ``"0"``, ``"1"``, ... for tensors).

    Raises:
        FileNotFoundError: no such file or folder, or a folder without images.
        ValueError: an unreadable file or an unsupported format (message starts with
            ``--input:``); :class:`~stochrobust.ShapeError` for mismatched or ambiguous
            shapes and :class:`~stochrobust.NonFiniteError` for NaN/Inf values.

    Shape:
        - result: ``(N, C, H, W)`` for images and 3-D / 4-D tensors, ``(N, ...)`` with
          ``batch_dim=True``.

    Examples:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "y.npy")
        >>> np.save(f, np.zeros((3, 4, 4), dtype=np.float32))   # one (C, H, W) input
        >>> y, names = load_inputs(f)
        >>> tuple(y.shape), names
        ((1, 3, 4, 4), ['0'])
        >>> tuple(load_inputs(f, batch_dim=True)[0].shape)
        (3, 4, 4)
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--input: no such file or folder: {str(p)!r}")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"--input: no images ({', '.join(IMAGE_SUFFIXES)}) in "
                                    f"folder {str(p)!r}")  # fmt: skip
        return _load_images(files, f"folder {str(p)!r}")
    suffix = p.suffix.lower()
    source = f"file {str(p)!r}"
    if suffix in IMAGE_SUFFIXES:
        return _load_images([p], source)
    if suffix in TENSOR_SUFFIXES:
        try:
            data = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(
                f"--input: expected a file saved with torch.save(tensor) (loaded with "
                f"weights_only=True), could not load {str(p)!r}: {oneline(exc)}"
            ) from exc
    elif suffix == ".npy":
        try:
            data = np.load(p, allow_pickle=False)
        except Exception as exc:
            raise ValueError(
                f"--input: could not load {str(p)!r} as a .npy array (allow_pickle=False): "
                f"{oneline(exc)}"
            ) from exc
    else:
        raise ValueError(
            f"--input: expected a .pt/.pth tensor, a .npy array, an image or a folder of "
            f"images, got {str(p)!r}"
        )
    t = _as_batch(_as_float(data, source), source, batch_dim)
    return t, [str(i) for i in range(t.shape[0])]


def parse_shape(text: str, name: str) -> tuple[int, ...]:
    """Parse sizes such as ``"3,16,16"`` or ``"3x16x16"``.

    Args:
        text: the sizes, comma- or ``x``-separated.
        name: the option named in errors.

    Returns:
        The shape.

    Raises:
        ShapeError: not positive integers.

    Examples:
        >>> parse_shape("1,8x8", "--seed-shape")
        (1, 8, 8)
    """
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(","))
    except ValueError:
        raise ShapeError(f"{name}: expected sizes like 3,16,16, got {text!r}") from None
    if not shape or any(s < 1 for s in shape):
        raise ShapeError(f"{name}: expected positive sizes like 3,16,16, got {text!r}")
    return shape
