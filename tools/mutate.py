"""Mutation testing of stochrobust's core modules against the fast test suite.

Usage (from the repository root, with the development environment active)::

    python tools/mutate.py                      # every mutant in tools/mutants.toml
    python tools/mutate.py --only cw- --only w2  # mutants whose id contains a pattern
    python tools/mutate.py --list               # show the mutants and their suites
    python tools/mutate.py --min-score 0.95     # exit 1 below this score

Each mutant of ``tools/mutants.toml`` is a one-line textual change of a library file. The
harness copies the package, the tests and the pytest configuration into a temporary
directory once (the working tree is never modified), checks that every mutant applies and
that the unmutated suites pass, then for each mutant writes the mutated file into the copy
and runs ``pytest -x`` on the test files its ``[suites]`` entry names plus the mutated
module's doctests. A mutant is *killed* when that run fails (or runs past the time limit),
*survives* when it passes. The score is killed / (all − equivalent); survivors and
equivalent mutants are printed with their explanations. Not part of CI (minutes, not
seconds): run it before each release and record the score in CHANGELOG.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("stochrobust", "tests", "conftest.py", "pyproject.toml")


@dataclass(frozen=True)
class Mutant:
    """One textual mutation of a library file."""

    id: str
    file: str
    find: str
    replace: str
    occurrence: int | None = None
    equivalent: str | None = None


def load(config: Path) -> tuple[list[Mutant], dict[str, list[str]]]:
    """Read the mutants and the suites from ``config``."""
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    mutants = [Mutant(**entry) for entry in data["mutant"]]
    ids = [m.id for m in mutants]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SystemExit(f"{config}: duplicate mutant ids {duplicates}")
    return mutants, {str(k): list(v) for k, v in data["suites"].items()}


def suite_for(mutant: Mutant, suites: dict[str, list[str]]) -> list[str]:
    """Test paths of the longest ``[suites]`` prefix of the mutant's file, plus the file."""
    prefixes = [p for p in suites if mutant.file.startswith(p)]
    if not prefixes:
        raise SystemExit(f"mutant {mutant.id}: no [suites] entry covers {mutant.file}")
    return [*suites[max(prefixes, key=len)], mutant.file]


def mutated(source: str, mutant: Mutant) -> str:
    """``source`` with the mutation applied; exits if ``find`` is missing or ambiguous."""
    count = source.count(mutant.find)
    if mutant.occurrence is None:
        if count != 1:
            raise SystemExit(
                f"mutant {mutant.id}: expected `find` exactly once in {mutant.file}, "
                f"found it {count} times (set `occurrence` or lengthen `find`)"
            )
        return source.replace(mutant.find, mutant.replace)
    if not 1 <= mutant.occurrence <= count:
        raise SystemExit(
            f"mutant {mutant.id}: occurrence {mutant.occurrence} of `find` requested, "
            f"{count} in {mutant.file}"
        )
    head = -1
    for _ in range(mutant.occurrence):
        head = source.index(mutant.find, head + 1)
    return source[:head] + mutant.replace + source[head + len(mutant.find) :]


def run_pytest(workdir: Path, paths: list[str], timeout: float) -> tuple[bool, float, str]:
    """Run pytest on ``paths`` inside ``workdir``; ``(passed, seconds, last output line)``."""
    env = dict(os.environ, PYTHONPATH=str(workdir), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "--no-header", "-p", "no:cacheprovider"]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [*cmd, *paths], cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - start, f"timeout after {timeout:.0f} s"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode == 0, time.perf_counter() - start, lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    """Run the configured mutants; print the score, the survivors and the equivalents."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "tools" / "mutants.toml")
    parser.add_argument("--only", action="append", default=[], help="id substring filter")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--min-score", type=float, default=0.0, help="exit 1 below this")
    parser.add_argument("--timeout-factor", type=float, default=4.0)
    args = parser.parse_args(argv)

    mutants, suites = load(args.config)
    if args.only:
        mutants = [m for m in mutants if any(pat in m.id for pat in args.only)]
    for m in mutants:  # every mutant must apply to today's sources
        mutated((ROOT / m.file).read_text(encoding="utf-8"), m)
    if args.list:
        for m in mutants:
            tag = " (equivalent)" if m.equivalent else ""
            print(f"{m.id}{tag}: {m.file}  ->  {' '.join(suite_for(m, suites)[:-1])}")
        return 0

    with tempfile.TemporaryDirectory(prefix="stochrobust-mutants-") as tmp:
        work = Path(tmp)
        for name in COPIED:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, work / name)
        baseline: dict[tuple[str, ...], float] = {}
        for m in mutants:
            key = tuple(suite_for(m, suites))
            if key in baseline:
                continue
            ok, seconds, last = run_pytest(work, list(key), timeout=1800)
            if not ok:
                print(f"baseline fails for {' '.join(key)}: {last}")
                return 2
            baseline[key] = seconds
            print(f"baseline {seconds:6.1f} s  {' '.join(key)}")

        killed: list[Mutant] = []
        survived: list[Mutant] = []
        wrongly_equivalent: list[Mutant] = []
        for i, m in enumerate(mutants, 1):
            target = work / m.file
            original = target.read_text(encoding="utf-8")
            target.write_text(mutated(original, m), encoding="utf-8")
            key = tuple(suite_for(m, suites))
            try:
                limit = max(60.0, args.timeout_factor * baseline[key])
                ok, seconds, last = run_pytest(work, list(key), timeout=limit)
            finally:
                target.write_text(original, encoding="utf-8")
            status = "survived" if ok else "killed"
            print(f"[{i:3d}/{len(mutants)}] {status:8s} {seconds:5.1f} s  {m.id}  ({last})")
            if m.equivalent:
                if not ok:
                    wrongly_equivalent.append(m)
            elif ok:
                survived.append(m)
            else:
                killed.append(m)

    scored = len(killed) + len(survived)
    score = len(killed) / scored if scored else 1.0
    print()
    print(f"mutation score: {len(killed)}/{scored} = {score:.1%} of non-equivalent mutants")
    equivalents = [m for m in mutants if m.equivalent and m not in wrongly_equivalent]
    if equivalents:
        print(f"\nequivalent mutants ({len(equivalents)}), not scored:")
        for m in equivalents:
            print(f"  {m.id} ({m.file}): {m.equivalent}")
    if survived:
        print(f"\nSURVIVORS ({len(survived)}): a test is missing, or mark them equivalent:")
        for m in survived:
            print(f"  {m.id} ({m.file}): {m.find!r} -> {m.replace!r}")
    if wrongly_equivalent:
        print("\nmarked equivalent but killed (fix tools/mutants.toml):")
        for m in wrongly_equivalent:
            print(f"  {m.id}: {m.equivalent}")
    return 1 if score < args.min_score or wrongly_equivalent else 0


if __name__ == "__main__":
    sys.exit(main())
