from __future__ import annotations

import math

import matplotlib.image
import numpy as np
import pytest
import torch
from PIL import Image

from stochrobust import Estimator, ModelError, NonFiniteError, ShapeError, StochRobustTypeError
from stochrobust.audit import load_inputs, load_model
from stochrobust.audit.loading import parse_shape


# ---------------------------------------------------------------- models
def test_factory_module_and_dotted_attribute(model_module) -> None:
    model = load_model(f"{model_module}:scale")
    assert model(torch.ones(1, 2)).tolist() == [[0.5, 0.5]]
    assert isinstance(load_model(f"{model_module}:conv"), torch.nn.Module)
    est = load_model("torch.nn:Identity")
    assert isinstance(est, torch.nn.Identity)


def test_factory_may_return_an_estimator(tmp_path, monkeypatch) -> None:
    (tmp_path / "est_factory_mod.py").write_text(
        "import torch, stochrobust as sr\n"
        "def make():\n    return sr.Estimator(torch.nn.Conv2d(1, 1, 1), seed_shape=(1, 2, 2))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    est = load_model("est_factory_mod:make")
    assert isinstance(est, Estimator) and est.is_stochastic


@pytest.mark.filterwarnings("ignore:.*jit.*deprecated:FutureWarning")
def test_torchscript_file(tmp_path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU())
    path = tmp_path / "net.pt"
    torch.jit.script(net).save(str(path))
    loaded = load_model(str(path))
    x = torch.rand(2, 1, 5, 5)
    assert torch.allclose(loaded(x), net(x))


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        (
            "{m}:failing",
            ModelError,
            r"factory '{m}:failing' failed: RuntimeError: weights not found \(second line\)",
        ),
        ("{m}:not_a_model", ModelError, "to return a model .* got int 42"),
        ("{m}:VALUE", ModelError, "to be a callable factory, got int 3"),
        ("{m}:missing", ModelError, "has no attribute 'missing'"),
        ("no_such_module_xyz:make", ModelError, "cannot import module 'no_such_module_xyz'"),
        ("just_a_name", ModelError, "expected 'package.module:factory' or a TorchScript file"),
        ("models/net.pt", FileNotFoundError, "no such TorchScript file: 'models/net.pt'"),
    ],
)
def test_model_errors_are_one_line(model_module, spec, error, match) -> None:
    with pytest.raises(error, match=match.format(m=model_module)) as info:
        load_model(spec.format(m=model_module))
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_torchscript(tmp_path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(ModelError, match="expected a TorchScript file"):
        load_model(str(path))


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
    got, _ = load_inputs(tmp_path / "u8.npy")
    assert got.dtype == torch.float32 and got[0].tolist() == pytest.approx([0.0, 0.2, 1.0])
    torch.save(torch.ones(2, 3, dtype=torch.float16), tmp_path / "h.pt")
    assert load_inputs(tmp_path / "h.pt")[0].dtype == torch.float32


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
            r"expected a non-empty batch .* got shape \(5,\)",
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
        load_inputs(tmp_path / "a.npy")
    assert "\n" not in str(info.value) and "--input" in str(info.value)


def test_bad_paths(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_inputs(tmp_path / "nope.npy")
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match=r"expected a \.pt/\.pth tensor, a \.npy array"):
        load_inputs(tmp_path / "x.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no PNG images"):
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
    with pytest.raises(ValueError, match="cannot read PNG 'b.png'"):
        load_inputs(folder)


def test_parse_shape() -> None:
    assert parse_shape("3,16,16", "s") == (3, 16, 16)
    assert parse_shape("1x8x8", "s") == (1, 8, 8)
    for bad in ("", "3,,4", "a", "3,0"):
        with pytest.raises(ShapeError, match="s: expected"):
            parse_shape(bad, "s")
