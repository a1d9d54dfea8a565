"""``stochrobust audit`` end to end: exit codes, bounds, weights, the HTML report."""

from __future__ import annotations

import json
import math
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch

from stochrobust.cli import main


def audit(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["audit", *args])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(status: int, err: str) -> str:
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("stochrobust audit: error: "), err
    assert "Traceback" not in err
    return err


@pytest.fixture
def npy(tmp_path) -> str:
    path = tmp_path / "y.npy"
    np.save(path, np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32))
    return str(path)


RAISER = """
import torch

class Boom(Exception):
    pass

class Raiser(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, y):
        self.calls += 1
        if self.calls >= {call}:
            raise {exc}("boom\\nsecond line")
        return 0.5 * y

def make():
    return Raiser()
"""

EXCEPTIONS = ["ValueError", "TypeError", "KeyError", "IndexError", "ZeroDivisionError",
              "AssertionError", "NotImplementedError", "RuntimeError", "AttributeError",
              "OSError", "MemoryError", "StopIteration", "Boom", "SystemExit"]  # fmt: skip


@pytest.mark.parametrize("call", [1, 2, 4])  # the first call (probe), the attack's first, later
@pytest.mark.parametrize("exc", EXCEPTIONS)
def test_every_model_exception_is_exit_2_one_line(capsys, tmp_path, npy, exc, call) -> None:
    path = tmp_path / f"raiser_{exc}_{call}.py"
    path.write_text(RAISER.format(exc=exc, call=call))
    status, _, err = audit(capsys, f"{path}:make", "--input", npy, "--steps", "3")
    one_line_error(status, err)
    assert exc in err and "boom" in err  # KeyError shows repr('boom\\nsecond line')


WARNER = """
import warnings

def make():
    def model(y):
        warnings.warn("odd input range", UserWarning)
        return {body}
    return model
"""


def test_warnings_are_printed_once_or_folded(capsys, tmp_path, npy) -> None:
    (tmp_path / "ok.py").write_text(WARNER.format(body="0.5 * y"))
    status, _, err = audit(capsys, f"{tmp_path / 'ok.py'}:make", "--input", npy, "--steps", "2")
    lines = err.splitlines()
    ours = "stochrobust audit: warning: UserWarning: odd input range"
    # the model's warning once; a 2-step single-start attack also reports it is unconverged
    assert status == 0 and lines.count(ours) == 1
    assert all(line == ours or "ConvergenceWarning" in line for line in lines)
    (tmp_path / "bad.py").write_text(WARNER.format(body="y.no_such_method()"))
    status, _, err = audit(capsys, f"{tmp_path / 'bad.py'}:make", "--input", npy)
    one_line_error(status, err)
    assert err.rstrip().endswith("[warnings: UserWarning: odd input range]")


def test_seed_hint_and_exported_batch_hint(capsys, model_module, npy) -> None:
    status, _, err = audit(capsys, f"{model_module}:noisy", "--input", npy)
    assert "(hint: a stochastic model G(y, z) needs --seed-shape C,H,W)" in one_line_error(
        status, err
    )
    status, _, err = audit(capsys, f"{model_module}:scale", "--input", npy, "--seed-shape", "1")
    assert "(hint: the model takes no seed: drop --seed-shape)" in one_line_error(status, err)


def test_static_batch_export_gets_a_hint(capsys, tmp_path, npy) -> None:
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    program = torch.export.export(net, (torch.rand(1, 1, 8, 8),))  # batch size fixed to 1
    torch.export.save(program, str(tmp_path / "static.pt2"))
    status, _, err = audit(capsys, str(tmp_path / "static.pt2"), "--input", npy, "--steps", "2")
    assert "(hint: export the model with a dynamic batch dimension" in one_line_error(status, err)


def test_help_says_what_runs_code(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["audit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert info.value.code == 0
    assert "IMPORT AND EXECUTE the module's code" in text
    assert "use archives from trusted sources only" in text and "weights_only=True" in text


def test_max_norm_bounds_the_root(capsys, model_module, npy) -> None:
    # G(y) = y / 2 on the L2 ball of radius 0.1: root = eq. 2 = 0.05 for every input
    base = [f"{model_module}:scale", "--input", npy, "--eps", "0.1", "--steps", "3"]
    status, out, err = audit(capsys, *base, "--max-norm", "0.0501")
    assert status == 0 and "PASSED" in out, err
    status, _, err = audit(capsys, *base, "--max-norm", "0.0499")
    assert status == 1 and "exceeds --max-norm 0.0499 (3 of 3 inputs above)" in err
    status, _, err = audit(capsys, *base, "--max-norm", "1", "--max-sensitivity", "0.0024")
    assert status == 1 and "--max-sensitivity 0.0024 / --max-norm 1" in err  # 0.05² = 0.0025


def test_data_range_scales_radius_and_psnrs(capsys, model_module, tmp_path) -> None:
    path = tmp_path / "y255.npy"
    np.save(path, 255 * np.random.default_rng(1).random((2, 1, 4, 4)))
    out_json = tmp_path / "r.json"
    status, _, err = audit(capsys, f"{model_module}:scale", "--input", str(path), "--ai-psnr",
                           "30", "--data-range", "255", "--json", str(out_json))  # fmt: skip
    assert status == 0, err
    data = json.loads(out_json.read_text())
    eps = 255 * 10**-1.5 * 4  # data_range · 10^(-AI-PSNR / 20) · sqrt(16 values)
    assert data["settings"]["eps"] == pytest.approx(eps) and data["settings"]["data_range"] == 255
    for row in data["per_input"]:
        assert row["input_psnr"] == pytest.approx(30.0, abs=1e-3)
        assert row["output_psnr"] == pytest.approx(30 + 20 * math.log10(2), abs=1e-3)
        assert row["root"] == pytest.approx(eps / 2, rel=1e-5)


def test_deprecated_option_spellings_still_work_and_warn(capsys, model_module, tmp_path, npy):
    out_json = tmp_path / "r.json"
    status, _, err = audit(capsys, f"{model_module}:noisy", "--input", npy, "--seed-shape",
                           "1,8,8", "--norm", "linf", "--diversity-samples", "3", "--eps",
                           "0.01", "--json", str(out_json))  # fmt: skip
    assert status == 0
    assert "warning: DeprecationWarning: --norm is deprecated, use --ball" in err
    assert "--diversity-samples is deprecated, use --n-diversity-seeds" in err
    assert json.loads(out_json.read_text())["settings"]["ball"] == "linf"


def test_weights_from_the_command_line(capsys, tmp_path, arch_file, arch_net, npy) -> None:
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"epoch": 1, "state_dict": {"module." + k: v for k, v in
                                           arch_net().state_dict().items()}}, ckpt)  # fmt: skip
    status, out, err = audit(capsys, f"{arch_file}:make", "--weights", str(ckpt), "--input",
                             npy, "--steps", "2")  # fmt: skip
    assert status == 0, err
    assert "loaded 9 tensors into Net (prefix 'module.' stripped)" in out
    torch.save({"state_dict": {"x": torch.zeros(1)}}, ckpt)
    status, _, err = audit(capsys, f"{arch_file}:make", "--weights", str(ckpt), "--input", npy)
    assert "ModelError: --weights: expected the keys of Net.state_dict()" in one_line_error(
        status, err
    )


def test_only_module_factories_touch_sys_path(capsys, model_module, arch_file, npy) -> None:
    cwd = str(Path.cwd())
    sys.path.remove(cwd)  # the fixture put it there; the command must add it itself
    before = list(sys.path)
    status, out, _ = audit(capsys, f"{model_module}:scale", "--input", npy, "--steps", "2")
    assert status == 0 and out.startswith("note: importing MODEL module")
    assert "(its code is executed)" in out.splitlines()[0] and sys.path == before
    status, out, _ = audit(capsys, f"{arch_file}:make", "--input", npy, "--steps", "2")
    assert status == 0 and "note:" not in out and sys.path == before


# ---------------------------------------------------------------- the HTML report
class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.rows: list[list[str]] = []
        self.captions: list[str] = []
        self._table = self._cell = self._caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"] or "")
        elif tag == "table" and a.get("id") == "per-input":
            self._table = True
        elif tag == "tr" and self._table:
            self.rows.append([])
        elif tag in ("td", "th") and self._table:
            self._cell = True
            self.rows[-1].append("")
        elif tag == "figcaption":
            self._caption = True
            self.captions.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = False
        elif tag in ("td", "th"):
            self._cell = False
        elif tag == "figcaption":
            self._caption = False

    def handle_data(self, data: str) -> None:
        if self._cell:
            self.rows[-1][-1] += data
        if self._caption:
            self.captions[-1] += data


def read_page(folder: Path) -> _Page:
    page = _Page()
    page.feed((folder / "index.html").read_text(encoding="utf-8"))
    return page


def assert_table_matches_json(page: _Page, data: dict) -> None:
    head, *rows = page.rows
    assert head == ["index", "name", "value", "root", "output_psnr", "input_psnr",
                    "lipschitz_lower_bound", "per_pixel_std"]  # fmt: skip
    assert len(rows) == len(data["per_input"])
    for row, ref in zip(rows, data["per_input"], strict=True):
        for cell, key in zip(row, head, strict=True):
            want = ref[key]
            if isinstance(want, float):
                assert float(cell) == pytest.approx(want, rel=1e-5), key
            else:
                assert cell == ("" if want is None else str(want)), key


def test_report_deterministic(capsys, model_module, npy, tmp_path) -> None:
    folder = tmp_path / "rep"
    out_json = str(tmp_path / "r.json")
    status, out, err = audit(capsys, f"{model_module}:conv", "--input", npy, "--steps", "3",
                             "--report", str(folder), "--json", out_json)  # fmt: skip
    assert status == 0, err
    assert f"wrote {folder / 'index.html'}" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert json.loads((folder / "report.json").read_text()) == data
    page = read_page(folder)
    assert sorted(page.images) == ["histogram.png", "worst_1.png", "worst_2.png", "worst_3.png"]
    for src in page.images:
        assert (folder / src).stat().st_size > 1000 and not src.startswith(("http", "/"))
    assert_table_matches_json(page, data)
    html_text = (folder / "index.html").read_text()
    assert "<script" not in html_text and "http" not in html_text  # no network
    # the heat map's sum of squares is the eq. 6 value at the stored maximiser
    for caption in page.captions:
        value, squares = map(float, re.findall(r"value ([\d.e+-]+);.* is ([\d.e+-]+);", caption)[0])
        assert squares == pytest.approx(value, rel=2e-3)


def test_report_stochastic_has_std_maps(capsys, model_module, tmp_path) -> None:
    torch.save(torch.rand(2, 1, 6, 6), tmp_path / "y.pt")
    folder = tmp_path / "rep"
    status, _, err = audit(capsys, f"{model_module}:noisy", "--input", str(tmp_path / "y.pt"),
                           "--seed-shape", "1,6,6", "--n-seeds", "3", "--eps", "0.1",
                           "--report", str(folder))  # fmt: skip
    assert status == 0, err
    page = read_page(folder)
    assert sorted(page.images) == ["histogram.png", "worst_1.png", "worst_2.png"]
    data = json.loads((folder / "report.json").read_text())
    assert_table_matches_json(page, data)
    assert all(isinstance(r["per_pixel_std"], float) for r in data["per_input"])
    # a panel per figure: 6 with the std map (matplotlib adds colorbars for the two maps)
    assert all((folder / f"worst_{k}.png").exists() for k in (1, 2))


def test_report_without_image_shapes_says_so(capsys, model_module, tmp_path) -> None:
    np.save(tmp_path / "v.npy", np.random.default_rng(0).random((4, 5)).astype(np.float32))
    folder = tmp_path / "rep"
    status, _, err = audit(capsys, f"{model_module}:scale", "--input", str(tmp_path / "v.npy"),
                           "--batch-dim", "yes", "--report", str(folder))  # fmt: skip
    assert status == 0, err
    page = read_page(folder)
    assert page.images == ["histogram.png"]
    assert "No figures" in (folder / "index.html").read_text()
