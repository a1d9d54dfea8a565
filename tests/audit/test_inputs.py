from __future__ import annotations

import math

import matplotlib.image
import numpy as np
import pytest
import torch
from PIL import Image

from stochrobust import NonFiniteError, ShapeError, StochRobustTypeError
from stochrobust.audit import load_inputs
from stochrobust.audit.inputs import parse_shape


# ---------------------------------------------------------------- tensors
def test_pt_and_npy(tmp_path) -> None:
    x = torch.rand(3, 2, 4, 4, dtype=torch.float64)
    torch.save(x, tmp_path / "x.pt")
    np.save(tmp_path / "x.npy", x.numpy())
    for name in ("x.pt", "x.npy"):
        got, names = load_inputs(tmp_path / name)
        assert torch.equal(got, x) and names == ["0", "1", "2"]


def test_uint8_and_half_are_converted(tmp_path) -> None:
    np.save(tmp_path / "u8.npy", np.array([[0, 51, 255]], dtype=np.uint8))
    got, _ = load_inputs(tmp_path / "u8.npy", batch_dim=True)
    assert got.dtype == torch.float32 and got[0].tolist() == pytest.approx([0.0, 0.2, 1.0])
    torch.save(torch.ones(2, 3, dtype=torch.float16), tmp_path / "h.pt")
    assert load_inputs(tmp_path / "h.pt", batch_dim=True)[0].dtype == torch.float32


def test_pickled_objects_are_refused(tmp_path) -> None:
    import pickle

    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"x": [1, 2]}, fh, protocol=2)
    with pytest.raises(ValueError, match="weights_only=True"):
        load_inputs(tmp_path / "evil.pt")
    np.save(tmp_path / "obj.npy", np.array([{}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load_inputs(tmp_path / "obj.npy")
    torch.save({"x": torch.zeros(2, 2)}, tmp_path / "dict.pt")
    with pytest.raises(StochRobustTypeError, match="expected a tensor .* got dict"):
        load_inputs(tmp_path / "dict.pt")


@pytest.mark.parametrize(
    ("array", "error", "match"),
    [
        (
            np.zeros(5, dtype=np.float32),
            ShapeError,
            r"--batch-dim: expected a tensor of at least 2 dimensions .* got shape \(5,\)",
        ),
        (np.zeros((0, 3), dtype=np.float32), ShapeError, r"got shape \(0, 3\)"),
        (np.array([[1.0, math.nan]]), NonFiniteError, "1 NaN and 0 Inf"),
        (np.array([[1.0, math.inf]]), NonFiniteError, "0 NaN and 1 Inf"),
        (np.zeros((2, 2), dtype=np.int64), StochRobustTypeError, "floating-point or uint8"),
        (np.zeros((2, 2), dtype=np.complex64), StochRobustTypeError, "numeric array"),
    ],
)
def test_bad_tensors(tmp_path, array, error, match) -> None:
    np.save(tmp_path / "a.npy", array)
    with pytest.raises(error, match=match) as info:
        load_inputs(tmp_path / "a.npy", batch_dim=True)
    assert "\n" not in str(info.value) and "--" in str(info.value)


def test_bad_paths(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_inputs(tmp_path / "nope.npy")
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match=r"expected a \.pt/\.pth tensor, a \.npy array"):
        load_inputs(tmp_path / "x.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        load_inputs(tmp_path / "empty")
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="could not load"):
        load_inputs(tmp_path / "broken.npy")


# ---------------------------------------------------------------- PNG folders
def test_png_folder_matplotlib_rgb(tmp_path) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.random((6, 5, 3)) for _ in range(3)]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, a in enumerate(arrays):  # names sort as b, c, d
        matplotlib.image.imsave(folder / f"{'bcd'[i]}.png", a)
    (folder / "notes.txt").write_text("ignored")
    x, names = load_inputs(folder)
    assert names == ["b.png", "c.png", "d.png"]
    assert x.shape == (3, 3, 6, 5) and x.dtype == torch.float32
    expected = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    assert torch.allclose(x, expected, atol=1 / 255 + 1e-6)  # 8-bit (matplotlib truncates)


def test_png_folder_gray_and_16_bit(tmp_path) -> None:
    folder = tmp_path / "gray"
    folder.mkdir()
    Image.fromarray(np.full((4, 4), 51, dtype=np.uint8), mode="L").save(folder / "a.png")
    Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(folder / "b.png")
    x, _ = load_inputs(folder)
    assert x.shape == (2, 1, 4, 4)
    assert x[0].flatten().tolist() == pytest.approx([0.2] * 16)
    assert x[1].flatten().tolist() == pytest.approx([1.0] * 16)


def test_png_folder_mismatched_sizes_one_line(tmp_path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    matplotlib.image.imsave(folder / "a.png", np.zeros((4, 4, 3)))
    matplotlib.image.imsave(folder / "b.png", np.zeros((5, 4, 3)))
    with pytest.raises(
        ShapeError, match=r"same size, got a\.png \(3x4x4, CxHxW\) and b\.png \(3x5x4\)"
    ) as info:
        load_inputs(folder)
    assert "\n" not in str(info.value)
    (folder / "b.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="cannot read image 'b.png'"):
        load_inputs(folder)


def test_parse_shape() -> None:
    assert parse_shape("3,16,16", "s") == (3, 16, 16)
    assert parse_shape("1x8x8", "s") == (1, 8, 8)
    for bad in ("", "3,,4", "a", "3,0"):
        with pytest.raises(ShapeError, match="s: expected"):
            parse_shape(bad, "s")


@pytest.mark.parametrize(
    ("shape", "batch_dim", "expected"),
    [
        ((2, 3, 4, 4), None, (2, 3, 4, 4)),  # 4-D: a batch (N, C, H, W)
        ((3, 4, 4), None, (1, 3, 4, 4)),  # 3-D: one (C, H, W) input, not 3 inputs
        ((3, 4, 4), True, (3, 4, 4)),  # 3 inputs of shape (4, 4)
        ((2, 3, 4, 4), False, (1, 2, 3, 4, 4)),  # one 4-D input
        ((5, 2), True, (5, 2)),
        ((5, 2), False, (1, 5, 2)),
        ((7,), False, (1, 7)),
    ],
)
def test_batch_dim_rule(tmp_path, shape, batch_dim, expected) -> None:
    x = torch.arange(math.prod(shape), dtype=torch.float32).reshape(shape)
    torch.save(x, tmp_path / "x.pt")
    got, names = load_inputs(tmp_path / "x.pt", batch_dim=batch_dim)
    assert tuple(got.shape) == expected and len(names) == expected[0]
    assert torch.equal(got.flatten(), x.flatten())  # same values, same order


@pytest.mark.parametrize("shape", [(5, 2), (7,), (1, 2, 3, 4, 5)])
def test_other_ranks_are_ambiguous(tmp_path, shape) -> None:
    np.save(tmp_path / "a.npy", np.zeros(shape, dtype=np.float32))
    with pytest.raises(ShapeError, match=r"is ambiguous.*--batch-dim yes.*--batch-dim no") as info:
        load_inputs(tmp_path / "a.npy")
    assert "\n" not in str(info.value)


def test_single_image_file_is_one_input(tmp_path) -> None:
    a = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(a, mode="RGB").save(tmp_path / "one.png")
    got, names = load_inputs(tmp_path / "one.png")
    assert names == ["one.png"] and tuple(got.shape) == (1, 3, 5, 7)
    assert torch.allclose(got[0], torch.from_numpy(a).permute(2, 0, 1).float() / 255)
