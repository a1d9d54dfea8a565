from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest
import torch

from stochrobust.cli import main


def audit(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["audit", *args])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("stochrobust audit: error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, err


@pytest.fixture
def npy(tmp_path) -> str:
    x = np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return str(path)


def test_factory_on_npy_with_closed_forms_and_json(capsys, model_module, npy, tmp_path) -> None:
    out_json = tmp_path / "report.json"
    status, out, err = audit(
        capsys, f"{model_module}:scale", "--input", npy, "--ai-psnr", "30", "--json", str(out_json)
    )
    assert status == 0 and err == ""
    # AI-PSNR 30 dB on 64 values: eps = 8·10^(-1.5); G = y/2: eq. 2 = eps/2, Lipschitz 0.5
    eps = 8 * 10**-1.5
    assert f"eps = {eps:.4g} on the l2 ball (worst-case AI-PSNR 30.00 dB)" in out
    assert "(deterministic)" in out and "per input:" in out and "aggregate over 3 inputs" in out
    data = json.loads(out_json.read_text())
    assert data["settings"]["eps"] == pytest.approx(eps)
    assert data["settings"]["model"] == f"{model_module}:scale"
    for row in data["per_input"]:
        assert row["root"] == pytest.approx(eps / 2, rel=1e-5)
        assert row["value"] == pytest.approx(eps**2 / 4, rel=1e-5)
        assert row["lipschitz_lower_bound"] == pytest.approx(0.5, rel=1e-5)
        assert row["input_psnr"] == pytest.approx(30.0, abs=1e-3)
        assert row["output_psnr"] == pytest.approx(36.0206, abs=1e-3)  # 30 + 20·log10(2)
        assert row["per_pixel_std"] is None
    assert data["aggregate"]["sqrt_r_tilde"] == pytest.approx(eps / 2, rel=1e-5)
    assert data["settings"]["passed"] is True


@pytest.mark.filterwarnings("ignore:.*jit.*deprecated:FutureWarning")
def test_torchscript_on_png_folder(capsys, tmp_path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Sigmoid())
    model = tmp_path / "net.pt"
    torch.jit.script(net).save(str(model))
    folder = tmp_path / "pngs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("img_a.png", "img_b.png"):
        matplotlib.image.imsave(folder / name, rng.random((8, 8, 3)))
    status, out, err = audit(
        capsys, str(model), "--input", str(folder), "--eps", "0.5", "--steps", "5"
    )
    assert status == 0, err
    assert "img_a.png" in out and "img_b.png" in out and "shape (3, 8, 8)" in out
    assert "PGD(restarts=1, random_start=True, steps=5," in out


def test_stochastic_model_on_pt(capsys, model_module, tmp_path) -> None:
    torch.save(torch.rand(2, 1, 4, 4), tmp_path / "y.pt")
    status, out, err = audit(
        capsys, f"{model_module}:noisy", "--input", str(tmp_path / "y.pt"), "--seed-shape",
        "1,4,4", "--n-seeds", "3", "--eps", "0.2", "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert status == 0, err
    assert "stochastic, seed shape (1, 4, 4)" in out and "pix std" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["settings"]["stochastic"] is True and data["settings"]["n_seeds"] == 3
    for row in data["per_input"]:
        assert row["root"] == pytest.approx(0.2, rel=1e-5)  # y + 0.1 z: the seed cancels
        assert 0.05 < row["per_pixel_std"] < 0.2  # std of 0.1·N(0, 1) over 8 samples


def test_max_sensitivity_exceeded_exits_1_and_says_why(capsys, model_module, npy, tmp_path) -> None:
    out_json = tmp_path / "r.json"
    status, out, err = audit(
        capsys, f"{model_module}:erratic", "--input", npy, "--eps", "0.05",
        "--max-sensitivity", "1e-4", "--json", str(out_json),
    )  # fmt: skip
    assert status == 1
    assert err.startswith("stochrobust audit: FAILED: input ")
    assert "exceeds --max-sensitivity 0.0001 (3 of 3 inputs above)" in err
    data = json.loads(out_json.read_text())
    worst = max(data["per_input"], key=lambda r: r["value"])
    assert f"input {worst['index']}: eq. 6 value {worst['value']:.4g}, root" in err
    assert data["settings"]["passed"] is False and data["settings"]["max_sensitivity"] == 1e-4
    # the robust model passes the same threshold at the same eps
    status, out, err = audit(
        capsys,
        f"{model_module}:scale",
        "--input",
        npy,
        "--eps",
        "0.05",
        "--max-sensitivity",
        "1e-3",
    )
    assert status == 0 and "PASSED: every input is within the bounds" in out


@pytest.mark.parametrize(
    ("model", "make_input", "fragments"),
    [
        ("{m}:scale", "missing", ["FileNotFoundError", "no such file or folder"]),
        ("{m}:scale", "nan", ["NonFiniteError", "1 NaN"]),
        ("{m}:scale", "flat", ["ShapeError", "(5,)", "is ambiguous", "--batch-dim"]),
        ("{m}:rgb_conv", "npy", ["ModelError", "y of shape (1, 1, 8, 8)", "3 channels"]),
        ("{m}:wrong_batch", "npy", ["ModelError", "output batch of 3 rows"]),
        ("{m}:failing", "npy", ["ModelError", "weights not found (second line)"]),
        ("{m}:not_a_model", "npy", ["ModelError", "got int 42"]),
        ("{m}:nope", "npy", ["ModelError", "has no attribute 'nope'"]),
        ("missing/net.pt", "npy", ["FileNotFoundError", "no such model file"]),
        ("{m}:noisy", "npy", ["ModelError", "missing 1 required positional argument"]),
        ("{m}:scale", "pickle", ["weights_only=True"]),
        ("{m}:scale", "mixed_pngs", ["ShapeError", "same size"]),
    ],
)
def test_errors_are_one_line_exit_2(
    capsys, model_module, npy, tmp_path, model, make_input, fragments
) -> None:
    paths = {"npy": npy, "missing": str(tmp_path / "nope.npy")}
    if make_input == "nan":
        paths["nan"] = str(tmp_path / "nan.npy")
        np.save(paths["nan"], np.array([[0.5, math.nan]], dtype=np.float32))
    elif make_input == "flat":
        paths["flat"] = str(tmp_path / "flat.npy")
        np.save(paths["flat"], np.zeros(5, dtype=np.float32))
    elif make_input == "pickle":
        paths["pickle"] = str(tmp_path / "obj.pt")
        torch.save(argparse.Namespace(x=1), paths["pickle"])  # an arbitrary object
    elif make_input == "mixed_pngs":
        folder = tmp_path / "mixed"
        folder.mkdir()
        matplotlib.image.imsave(folder / "a.png", np.zeros((4, 4, 3)))
        matplotlib.image.imsave(folder / "b.png", np.zeros((4, 6, 3)))
        paths["mixed_pngs"] = str(folder)
    status, _, err = audit(capsys, model.format(m=model_module), "--input", paths[make_input])
    assert_one_line_error(status, err, *fragments)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--eps", "-1"], "--eps: expected a number in (0, inf)"),
        (["--n-seeds", "0"], "--n-seeds: expected an integer >= 1"),
        (["--steps", "0"], "--steps: expected an integer >= 1"),
        (["--seed-shape", "1,x"], "--seed-shape: expected sizes like 3,16,16"),
        (["--device", "cuda:99" if torch.cuda.is_available() else "cuda"], "--device"),
        (["--device", "not-a-device"], "--device: expected a torch device"),
        (["--json", "/nonexistent-dir/r.json"], "--json: cannot write"),
        (["--max-sensitivity", "-1"], "--max-sensitivity"),
        (["--n-diversity-seeds", "1"], "--n-diversity-seeds"),
    ],
)
def test_bad_options_are_one_line_exit_2(capsys, model_module, npy, args, fragment) -> None:
    status, _, err = audit(capsys, f"{model_module}:scale", "--input", npy, *args)
    assert_one_line_error(status, err, fragment)


def test_traceback_flag_reraises(capsys, model_module, tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        main(["audit", f"{model_module}:scale", "--input", str(tmp_path / "no.npy"), "--traceback"])


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["audit", "m:f", "--eps", "0.1", "--ai-psnr", "30", "--input", "x.npy"])
    assert info.value.code == 2


@pytest.mark.slow  # a fresh interpreter: the torch import dominates (3-7 s)
def test_end_to_end_subprocess(model_module, npy, tmp_path, repo_root) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo_root, str(tmp_path)])}
    cmd = [sys.executable, "-m", "stochrobust", "audit", f"{model_module}:conv", "--input", npy,
           "--json", str(tmp_path / "e2e.json"), "--max-sensitivity", "100"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Lip LB" in done.stdout and "PASSED" in done.stdout
    data = json.loads((tmp_path / "e2e.json").read_text())
    assert len(data["per_input"]) == 3 and data["settings"]["passed"] is True


def test_solver_and_budget_options(capsys, model_module, npy) -> None:
    model = f"{model_module}:scale"
    status, out, err = audit(capsys, model, "--input", npy, "--eps", "0.1", "--budget", "fast")
    assert status == 0, err
    assert "Protocol(budget='fast'" in out
    status, out, err = audit(
        capsys, model, "--input", npy, "--eps", "0.1", "--solver", "apgd", "--steps", "4",
        "--restarts", "2",
    )  # fmt: skip
    assert status == 0, err
    assert "APGD(restarts=2, random_start=True, steps=4," in out
    status, _, err = audit(capsys, model, "--input", npy, "--budget", "huge")
    assert status == 2 and "budget: expected one of" in err
