from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import stochrobust as sr


def test_import_is_lazy_and_does_not_import_torch() -> None:
    code = "import sys, stochrobust; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_public_names_and_subpackages_resolve() -> None:
    for name in sr.__all__:
        assert getattr(sr, name) is not None
    for name in ("sensitivity", "consistency", "smoothing", "metrics", "nets", "testing"):
        assert getattr(sr, name).__name__ == f"stochrobust.{name}"
    assert set(sr.__all__) <= set(dir(sr))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = sr.nope


def test_every_error_type_is_public_at_the_top_level() -> None:
    import stochrobust.errors as errors

    # stochrobust.__all__ takes them from errors.__all__, which must list every class there
    defined = {n for n, v in vars(errors).items() if isinstance(v, type)}
    assert defined == set(errors.__all__)
    for name in errors.__all__:
        assert name in sr.__all__ and getattr(sr, name) is getattr(errors, name)
        assert issubclass(getattr(sr, name), (sr.StochRobustError, sr.StochRobustWarning))
    assert len(set(sr.__all__)) == len(sr.__all__)


def test_the_equation_index_names_public_symbols_that_exist() -> None:
    # The module docstring maps each implemented paper equation to a public name.
    index = sr.__doc__.split("Wrap any torch generator")[0]
    names = re.findall(r"``((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)``", index)
    symbols = [n for n in names if n[0].isalpha() and getattr(sr, n.split(".")[0], None)]
    assert len(symbols) >= 25
    for name in symbols:
        obj: object = sr
        for part in name.split("."):
            obj = getattr(obj, part)
