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
COPIED = ("stochrobust", "tests", "examples", "conftest.py", "pyproject.toml")  # tests run examples


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


PRELOADED = ("torch", "numpy", "scipy.stats", "scipy.optimize", "scipy.sparse", "hypothesis")


def preload() -> None:
    """Import the heavy third-party modules once, so that forked runs skip their import."""
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    import pytest  # noqa: F401


def run_pytest(
    workdir: Path, paths: list[str], timeout: float, fork: bool = True
) -> tuple[bool, float, str]:
    """Run pytest on ``paths`` inside ``workdir``; ``(passed, seconds, last output line)``.

    With ``fork`` the run happens in a forked child of this process (which has imported
    torch & co. but never stochrobust), saving the interpreter start-up per mutant;
    otherwise in a fresh interpreter.
    """
    args = ["-q", "-x", "--no-header", "-p", "no:cacheprovider", *paths]
    start = time.perf_counter()
    log = workdir / ".mutant-run.log"
    if not fork:
        env = dict(os.environ, PYTHONPATH=str(workdir), PYTHONDONTWRITEBYTECODE="1")
        try:
            with log.open("w") as out:
                proc = subprocess.run(
                    [sys.executable, "-m", "pytest", *args], cwd=workdir, env=env,
                    stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                )  # fmt: skip
            ok = proc.returncode == 0
        except subprocess.TimeoutExpired:
            return False, time.perf_counter() - start, f"timeout after {timeout:.0f} s"
    else:
        pid = os.fork()
        if pid == 0:  # child: run pytest on the copy and exit without cleanup handlers
            code = 3
            try:
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.chdir(workdir)
                sys.path.insert(0, str(workdir))
                sys.dont_write_bytecode = True
                import pytest

                code = int(pytest.main(args))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        deadline = start + timeout
        status = None
        while status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
            elif time.perf_counter() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                return False, time.perf_counter() - start, f"timeout after {timeout:.0f} s"
            else:
                time.sleep(0.05)
        ok = status == 0
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return ok, time.perf_counter() - start, lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    """Run the configured mutants; print the score, the survivors and the equivalents."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "tools" / "mutants.toml")
    parser.add_argument("--only", action="append", default=[], help="id substring filter")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--min-score", type=float, default=0.0, help="exit 1 below this")
    parser.add_argument("--timeout-factor", type=float, default=4.0)
    parser.add_argument(
        "--no-fork", action="store_true", help="a fresh interpreter per run (slower)"
    )
    args = parser.parse_args(argv)
    fork = not args.no_fork and hasattr(os, "fork")

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
        if fork:
            preload()
        groups: dict[tuple[str, ...], list[str]] = {}
        for m in mutants:
            files = groups.setdefault(tuple(suite_for(m, suites)[:-1]), [])
            if m.file not in files:
                files.append(m.file)
        baseline: dict[tuple[str, ...], float] = {}
        for key, files in groups.items():
            ok, seconds, last = run_pytest(work, [*key, *files], timeout=1800, fork=fork)
            if not ok:
                print(f"baseline fails for {' '.join(key)}: {last}")
                return 2
            baseline[key] = seconds
            print(f"baseline {seconds:6.1f} s  {' '.join(key)} (+ {len(files)} modules)")

        killed: list[Mutant] = []
        survived: list[Mutant] = []
        wrongly_equivalent: list[Mutant] = []
        for i, m in enumerate(mutants, 1):
            target = work / m.file
            original = target.read_text(encoding="utf-8")
            target.write_text(mutated(original, m), encoding="utf-8")
            paths = suite_for(m, suites)
            try:
                limit = max(60.0, args.timeout_factor * baseline[tuple(paths[:-1])])
                ok, seconds, last = run_pytest(work, paths, timeout=limit, fork=fork)
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
