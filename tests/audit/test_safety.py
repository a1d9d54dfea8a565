"""A ``PIL/__init__.py`` planted in the working directory is never imported.

``python -m stochrobust audit`` in a fresh interpreter, in a folder holding a fake ``PIL``
package that writes a marker file when imported; the inputs are PNG images and ``--report``
draws figures, so the real Pillow is imported in every run. Only the ``module:factory``
form, documented to import from the current directory, may pick the fake one up (the
control, which shows that the planted package would be found). One interpreter runs the
four forms in turn, dropping Pillow from ``sys.modules`` between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.slow  # a fresh interpreter and four audits (10-30 s)

MODULE = """
import torch

def make():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Tanh())
"""


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """``tmp_path`` with a fake PIL package, two gray PNGs and the model files."""
    (tmp_path / "PIL").mkdir()
    marker = tmp_path / "PLANTED_PIL_IMPORTED"
    (tmp_path / "PIL" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    (tmp_path / "pngs").mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(
            tmp_path / "pngs" / name
        )
    (tmp_path / "planted_models.py").write_text("import PIL\n" + MODULE)
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "arch.py").write_text(MODULE)
    return tmp_path


DRIVER = """
import json, os, runpy, sys

results = []
for k, model in enumerate(sys.argv[1:]):
    for name in [m for m in sys.modules if m == "PIL" or m.startswith("PIL.")]:
        del sys.modules[name]  # the next run imports Pillow afresh, searching sys.path
    sys.path.insert(0, os.getcwd())  # what `python -m stochrobust` does
    sys.argv = ["stochrobust", "audit", model, "--input", "pngs", "--steps", "2",
                "--report", f"report_{k}"]
    try:
        runpy.run_module("stochrobust", run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    results.append([model, code, os.path.exists("PLANTED_PIL_IMPORTED")])
    while os.getcwd() in sys.path:
        sys.path.remove(os.getcwd())
print("RESULTS", json.dumps(results))
"""


def test_planted_pil_is_imported_by_no_form_but_module_factory(
    planted, repo_root, pt2_archive, tmp_path_factory
) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Tanh())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated
        torch.jit.script(net).save(str(planted / "net.ts"))
    driver = tmp_path_factory.mktemp("driver") / "run.py"  # not in the working directory
    driver.write_text(DRIVER)
    forms = [str(pt2_archive), "net.ts", "nets/arch.py:make", "planted_models:make"]
    env = {**os.environ, "PYTHONPATH": repo_root}
    done = subprocess.run([sys.executable, str(driver), *forms], env=env, cwd=planted,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.split("RESULTS ", 1)[1])
    for model, code, imported in results[:3]:
        assert (code, imported) == (0, False), (model, done.stderr)
        assert (planted / f"report_{forms.index(model)}" / "worst_1.png").exists()  # Pillow ran
    # control: module:factory imports from the current directory, after a notice, and
    # planted_models.py imports PIL at its top: the planted package is found
    assert results[3][2] is True
    assert "note: importing MODEL module 'planted_models' from the current directory" in (
        done.stdout
    )
