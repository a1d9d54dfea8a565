"""Model sources of ``stochrobust audit``: factories, weights, TorchScript, torch.export."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
import torch

from stochrobust import Estimator, ModelError
from stochrobust.audit import load_inputs, load_model, load_weights, model_source

jit_deprecated = pytest.mark.filterwarnings("ignore:.*jit.*deprecated:FutureWarning")


# ---------------------------------------------------------------- factories
def test_factory_module_and_dotted_attribute(model_module) -> None:
    model = load_model(f"{model_module}:scale")
    assert model(torch.ones(1, 2)).tolist() == [[0.5, 0.5]]
    assert isinstance(load_model(f"{model_module}:conv"), torch.nn.Module)
    assert isinstance(load_model("torch.nn:Identity"), torch.nn.Identity)


def test_factory_may_return_an_estimator(tmp_path, monkeypatch) -> None:
    (tmp_path / "est_factory_mod.py").write_text(
        "import torch, stochrobust as sr\n"
        "def make():\n    return sr.Estimator(torch.nn.Conv2d(1, 1, 1), seed_shape=(1, 2, 2))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    est = load_model("est_factory_mod:make")
    assert isinstance(est, Estimator) and est.is_stochastic


def test_file_factory_is_imported_by_path_without_touching_sys_path(arch_file) -> None:
    before = list(sys.path)
    model = load_model(f"{arch_file}:make")
    assert type(model).__name__ == "Net" and sys.path == before
    assert model_source(f"{arch_file}:make") == "file"


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("{m}:failing", ModelError,
         r"factory '{m}:failing' failed: RuntimeError: weights not found \(second line\)"),
        ("{m}:not_a_model", ModelError, "to return a model .* got int 42"),
        ("{m}:VALUE", ModelError, "to be a callable factory, got int 3"),
        ("{m}:missing", ModelError, "has no attribute 'missing'"),
        ("no_such_module_xyz:make", ModelError, "cannot import module 'no_such_module_xyz'"),
        ("just_a_name", ModelError, "expected a .pt2 / TorchScript file, 'package.module"),
        ("models/net.pt", FileNotFoundError, "no such model file: 'models/net.pt'"),
        ("nowhere/arch.py:make", FileNotFoundError, "no such factory file"),
        ("{m}.py", ModelError, "expected 'path/to/file.py:factory' for a Python file"),
    ],
)  # fmt: skip
def test_model_errors_are_one_line(model_module, spec, error, match) -> None:
    with pytest.raises(error, match=match.format(m=model_module)) as info:
        load_model(spec.format(m=model_module))
    assert "\n" not in str(info.value)


def test_file_factory_with_a_syntax_error(tmp_path) -> None:
    (tmp_path / "broken.py").write_text("def make(:\n")
    with pytest.raises(ModelError, match="cannot import .*broken.py.*SyntaxError"):
        load_model(f"{tmp_path / 'broken.py'}:make")


# ---------------------------------------------------------------- weights
@pytest.mark.parametrize(
    ("wrap", "key"),
    [
        (lambda sd: sd, None),
        (lambda sd: {"state_dict": sd, "epoch": 7, "optimizer": {"lr": 0.1}}, None),
        (lambda sd: {"model": sd, "step": 100}, None),
        (lambda sd: {"ema": sd}, None),
        (lambda sd: {"module." + k: v for k, v in sd.items()}, None),  # DataParallel
        (lambda sd: {"state_dict": {"_orig_mod.module." + k: v for k, v in sd.items()}}, None),
        (lambda sd: {"model": sd, "ema": sd}, "ema"),
        (lambda sd: {"ckpt": {"generator": sd}}, "ckpt.generator"),
    ],
)
def test_state_dict_checkpoints(tmp_path, arch_file, arch_net, wrap, key) -> None:
    net = arch_net()
    path = tmp_path / "ckpt.pt"
    torch.save(wrap(net.state_dict()), path)
    notes: list[str] = []
    model = load_model(f"{arch_file}:make", weights=path, weights_key=key, progress=notes.append)
    x = torch.rand(3, 1, 6, 6)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), net(x))  # weights and BatchNorm buffers loaded
    assert len(notes) == 1 and notes[0].startswith(
        "loaded 9 tensors into Net"
    )  # 2 + 5 (BatchNorm) + 2


def test_weights_errors_are_one_line(tmp_path, arch_file, arch_net) -> None:
    sd = arch_net().state_dict()
    cases = {
        "both.pt": ({"model": sd, "ema": sd}, r"several state_dicts \(model, ema\).*-key"),
        "missing.pt": ({k: v for k, v in sd.items() if "head" not in k},
                       r"2 missing \(head.bias, head.weight\) and 0 unexpected"),
        "extra.pt": ({**sd, "tail.weight": torch.zeros(1)}, r"0 missing \(\) and 1 unexpected"),
        "shape.pt": ({**sd, "head.bias": torch.zeros(5)}, "size mismatch for head.bias"),
        "none.pt": ({"epoch": 3, "lr": torch.ones(1), "cfg": {"a": 1}}, "expected a state_dict"),
    }  # fmt: skip
    for name, (obj, match) in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(ModelError, match=match) as info:
            load_model(f"{arch_file}:make", weights=tmp_path / name)
        assert "\n" not in str(info.value), name
    with pytest.raises(ModelError, match="--weights-key: expected a key .* 'nope'"):
        load_weights(tmp_path / "both.pt", key="nope")
    with pytest.raises(FileNotFoundError, match="--weights: no such file"):
        load_weights(tmp_path / "absent.pt")


@jit_deprecated
def test_weights_need_a_factory(tmp_path, pt2_archive) -> None:
    torch.save({}, tmp_path / "w.pt")
    with pytest.raises(ModelError, match="--weights: expected a module:factory .* torch.export"):
        load_model(str(pt2_archive), weights=tmp_path / "w.pt")


# ---------------------------------------------------------------- archives
@jit_deprecated
def test_torchscript_file(tmp_path, arch_file, arch_net) -> None:
    net = load_model(f"{arch_file}:make")  # scripting needs the class's source file
    net.load_state_dict(arch_net().state_dict())
    net.eval()
    path = tmp_path / "net.ts"
    torch.jit.script(net).save(str(path))
    loaded = load_model(str(path))
    assert model_source(str(path)) == "torchscript"
    x = torch.rand(2, 1, 5, 5)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net(x))


def test_torch_export_archive(pt2_archive) -> None:
    assert model_source(str(pt2_archive)) == "export"
    model = load_model(str(pt2_archive))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Tanh())
    x = torch.rand(5, 1, 8, 8, requires_grad=True)
    assert torch.allclose(model(x), net(x))  # any batch size (dynamic batch dimension)
    model(x).sum().backward()  # differentiable: the attack needs gradients
    assert x.grad is not None


def test_a_state_dict_given_as_model_gets_a_hint(tmp_path, arch_net) -> None:
    path = tmp_path / "ckpt.pt"
    torch.save(arch_net().state_dict(), path)
    assert model_source(str(path)) == "checkpoint"
    with pytest.raises(ModelError, match="torch.save checkpoint .* --weights") as info:
        load_model(str(path))
    assert "\n" not in str(info.value)
    (tmp_path / "junk.bin").write_bytes(b"junk")
    with pytest.raises(ModelError, match="never loaded"):
        load_model(str(tmp_path / "junk.bin"))


# ---------------------------------------------------------------- malicious pickles
def test_the_malicious_files_do_execute_when_unpickled(evil) -> None:
    """Control: each payload really runs under a plain unpickler."""
    for path in (evil.torch_save(), evil.nested()):
        torch.load(path, weights_only=False)
        assert evil.marker.exists()
        evil.marker.unlink()
    pickle.loads(evil.raw_pickle().read_bytes())
    assert evil.marker.exists()
    evil.marker.unlink()
    np.load(evil.npy(), allow_pickle=True)
    assert evil.marker.exists()
    evil.marker.unlink()
    with pytest.raises(Exception):  # noqa: B017 - torch.export.load unpickles, then fails
        torch.export.load(str(evil.pt2()))
    assert evil.marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_malicious_pickles_never_execute(evil, arch_file) -> None:
    attempts = [
        lambda: load_model(str(evil.torch_save())),  # MODEL
        lambda: load_model(str(evil.raw_pickle())),
        lambda: load_model(str(evil.pt2())),
        lambda: load_model(f"{arch_file}:make", weights=evil.torch_save("w.pt")),  # --weights
        lambda: load_model(f"{arch_file}:make", weights=evil.nested()),
        lambda: load_model(f"{arch_file}:make", weights=evil.raw_pickle("w2.pt")),
        lambda: load_inputs(evil.torch_save("y.pt")),  # --input
        lambda: load_inputs(evil.raw_pickle("y2.pt")),
        lambda: load_inputs(evil.npy()),
    ]
    for attempt in attempts:
        with pytest.raises((ModelError, ValueError)) as info:
            attempt()
        assert "\n" not in str(info.value)
        assert not evil.marker.exists(), str(info.value)
