"""Fixtures of the audit tests: a temporary model module importable as ``module:factory``."""

from __future__ import annotations

import io
import pickle
import sys
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

MODELS = '''
import torch


def scale():
    """G(y) = 0.5 y: eq. 2 = 0.5 eps, Lipschitz 0.5."""
    return lambda y: 0.5 * y


def conv():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Tanh())


def rgb_conv():
    torch.manual_seed(0)
    return torch.nn.Conv2d(3, 3, 3, padding=1)


def erratic():
    return lambda y: y + 0.05 * torch.sin(200.0 * y)


def noisy():
    """Stochastic: called as model(y, z)."""
    return lambda y, z: y + 0.1 * z


def wrong_batch():
    return lambda y: y[:1]


def failing():
    raise RuntimeError("weights not found\\n(second line)")


def not_a_model():
    return 42


VALUE = 3
'''


@pytest.fixture
def model_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    """Write the models above as a uniquely named module in ``tmp_path``; return its name.

    ``tmp_path`` is the working directory (the command imports MODEL modules from there)
    and ``sys.path`` / ``sys.modules`` are restored afterwards.
    """
    name = f"audit_models_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    yield name
    sys.modules.pop(name, None)


@pytest.fixture
def repo_root() -> str:
    return str(Path(__file__).resolve().parents[2])


@pytest.fixture
def arch_file(tmp_path: Path) -> Path:
    """``models/arch.py`` with ``Net`` and ``make()`` (for ``file.py:factory``)."""
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)
    path = folder / "arch.py"
    path.write_text(ARCH)
    return path


@pytest.fixture
def evil(tmp_path: Path) -> EvilFiles:
    return EvilFiles(tmp_path)


ARCH = """
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(2)
        self.head = torch.nn.Conv2d(2, 1, 1)

    def forward(self, y):
        return self.head(torch.tanh(self.norm(self.body(y))))


def make():
    return Net()
"""


class Evil:
    """Pickles as ``exec(code)``: unpickling it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


class EvilFiles:
    """Builders of malicious files; every one writes ``self.marker`` if unpickled."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.marker = folder / "PWNED"

    def torch_save(self, name: str = "evil.pt") -> Path:
        path = self.folder / name
        torch.save(Evil(self.marker), path)
        return path

    def nested(self, name: str = "evil_ckpt.pt") -> Path:
        path = self.folder / name
        torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Evil(self.marker)}, path)
        return path

    def raw_pickle(self, name: str = "evil.pkl.pt") -> Path:
        path = self.folder / name
        path.write_bytes(pickle.dumps(Evil(self.marker)))
        return path

    def npy(self, name: str = "evil.npy") -> Path:
        path = self.folder / name
        np.save(path, np.array([Evil(self.marker)], dtype=object), allow_pickle=True)
        return path

    def pt2(self, name: str = "evil.pt2") -> Path:
        """A real torch.export archive whose sample-inputs pickle is replaced by ``Evil``."""
        good = export_archive(self.folder / "good_for_evil.pt2")
        buf = io.BytesIO()
        torch.save(Evil(self.marker), buf)
        path = self.folder / name
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(path, "w") as zout:
            for item in zin.infolist():
                data = zin.read(item.filename)
                if item.filename.endswith("sample_inputs/model.pt"):
                    data = buf.getvalue()
                zout.writestr(item, data)
        return path


def export_archive(path: Path, channels: int = 1) -> Path:
    """``torch.export.save`` of a small conv net with a dynamic batch dimension."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(channels, channels, 3, padding=1), torch.nn.Tanh())
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(
        net, (torch.rand(2, channels, 8, 8),), dynamic_shapes=({0: batch},)
    )
    torch.export.save(program, str(path))
    return path


@pytest.fixture(scope="session")
def pt2_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torch.export archive of ``Sequential(Conv2d(1, 1, 3, padding=1), Tanh())``, seed 0."""
    return export_archive(tmp_path_factory.mktemp("pt2") / "net.pt2")


@pytest.fixture
def arch_net() -> Callable[[int], torch.nn.Module]:
    """``seed -> Net`` of ARCH with random weights and moved BatchNorm statistics."""

    def make(seed: int = 3) -> torch.nn.Module:
        namespace: dict[str, object] = {}
        exec(ARCH, namespace)
        torch.manual_seed(seed)
        net = namespace["Net"]()
        net.train()
        for _ in range(3):
            net(torch.rand(4, 1, 6, 6))  # moves the BatchNorm running statistics
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        return net.eval()

    return make
