"""Shared helpers of the benchmark modules: result rows, interleaved timing, peak memory.

Every benchmark module exposes ``run(quick: bool = False, device: str = "cpu") -> list[dict]``
and builds its rows with :func:`row`. Timings come from :func:`interleaved`: one warm-up
call per variant, then ``repeats`` rounds in which every variant runs once (the order
rotates from round to round, so that a drift in the machine's load hits all variants
alike), and the median per variant. Peak memory comes from :func:`child_peak`, which runs
one call in a fresh interpreter and reports its peak resident memory (CPU) or its peak
``torch.cuda.max_memory_allocated`` (CUDA).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

BENCH = Path(__file__).resolve().parent


def row(benchmark: str, metric: str, value: float, target: float | None = None) -> dict:
    """One result row; ``target`` is an upper bound (``meets_target``: ``value <= target``)."""
    value = float(value)
    return {
        "benchmark": benchmark,
        "metric": metric,
        "value": value,
        "target": None if target is None else float(target),
        "meets_target": None if target is None else bool(value <= target),
    }


def note(benchmark: str, text: str) -> None:
    """A remark printed next to the results (a skipped peer, a missing optional package)."""
    print(f"[{benchmark}] {text}", file=sys.stderr, flush=True)


def sync(device: str | torch.device) -> None:
    """Wait for the device's queued work (a no-op on CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


_CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = "wall"


def set_clock(name: str) -> None:
    """Time with ``"wall"`` (``perf_counter``, the default) or ``"cpu"`` (``process_time``).

    Process CPU time is immune to the process being descheduled on a shared machine and
    equals the wall time of an undisturbed run with one intra-op thread; with more threads
    it sums them (waiting threads included), so use it with ``--threads 1``, on CPU only.
    """
    global _clock
    if name not in _CLOCKS:
        raise ValueError(f"clock: expected one of {sorted(_CLOCKS)}, got {name!r}")
    _clock = name


def clock_name() -> str:
    """The clock :func:`interleaved` uses."""
    return _clock


def interleaved(
    variants: dict[str, Callable[[], object]],
    repeats: int,
    device: str | torch.device = "cpu",
    warmup: int = 1,
) -> dict[str, float]:
    """Median wall-clock seconds per variant, the variants interleaved round by round.

    Args:
        variants: name → zero-argument callable doing one complete run.
        repeats: timed rounds; each round runs every variant once, in an order rotated
            by one position per round.
        device: synchronised before and after every timed call.
        warmup: untimed calls per variant before the first round.

    Returns:
        name → median seconds (of the clock chosen by :func:`set_clock`).
    """
    clock = _CLOCKS[_clock]
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            sync(device)
            start = clock()
            variants[name]()
            sync(device)
            times[name].append(clock() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


_CHILD = """
import json, resource, sys
import torch

def status(key):  # a /proc/self/status field in MiB (None where unavailable)
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None

module, func, device, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
kwargs = json.loads(sys.argv[5])
torch.set_num_threads(threads)
cuda = device.startswith("cuda")
call = getattr(__import__(module), func)(device=device, **kwargs)
if cuda:
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated() / 2**20
    torch.cuda.reset_peak_memory_stats()
else:
    before = status("VmRSS")
    try:  # reset the high-water mark to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        before = None
info = call() or {}
if cuda:
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20
else:
    peak = status("VmHWM") if before is not None else None
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
info["peak_mb"] = peak
info["extra_mb"] = None if before is None else peak - before
usage = resource.getrusage(resource.RUSAGE_SELF)
call()  # a second, steady-state call: what memory does the allocator have to map again?
after = resource.getrusage(resource.RUSAGE_SELF)
info["minor_faults"] = after.ru_minflt - usage.ru_minflt
info["sys_seconds"] = after.ru_stime - usage.ru_stime
print(json.dumps(info))
"""


def child_peak(module: str, func: str, device: str, **kwargs: Any) -> dict[str, Any]:
    """Measure the peak memory of one call in a fresh interpreter.

    The child imports the benchmark module by name (this folder and the directory holding
    the ``stochrobust`` this process imported are put on its ``PYTHONPATH``), uses as many
    intra-op threads as this process, calls ``module.func(device=device, **kwargs)`` — the
    set-up, which returns a zero-argument callable — and then measures the callable's first
    call (memory) and second call (page faults). It returns the dict the first call returns
    (or ``{}``) plus:

    - ``peak_mb``: on CPU the whole-process peak resident set size during the call
      (``VmHWM`` after resetting the high-water mark through ``/proc/self/clear_refs``, so
      the import of torch does not mask it; it includes torch's own resident ~0.5 GB and
      the set-up); on CUDA ``torch.cuda.max_memory_allocated`` during the call;
    - ``extra_mb``: ``peak_mb`` minus the resident (CPU) or allocated (CUDA) memory just
      before the call — the memory the call itself needed (``None`` where the high-water
      mark cannot be reset; ``peak_mb`` is then ``ru_maxrss``, imports included);
    - ``minor_faults`` and ``sys_seconds``: the page faults and kernel time of the second
      call (``getrusage``), when the allocator could reuse the first call's memory — on
      CPU, the cost of memory the allocator returned to the OS and maps (and zeroes) again.

    ``kwargs`` must be JSON-serialisable.
    """
    import stochrobust

    source = str(Path(stochrobust.__file__).resolve().parents[1])  # the parent's copy
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH), source, env.get("PYTHONPATH")]))
    threads = torch.get_num_threads()
    env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, module, func, device, str(threads), json.dumps(kwargs)],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{module}.{func} failed in the child process:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def available_memory_mb() -> float:
    """``MemAvailable`` from ``/proc/meminfo`` in MiB (``inf`` where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("inf")
