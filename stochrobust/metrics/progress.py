"""A small progress display for data-set loops: rank 0 only, log-friendly.

On a terminal it redraws one line (a carriage return); in a file, a CI log or under ``torchrun``
(whose output is not a terminal) it writes a plain line each time another ``step`` of the
work is done — never a stream of repeated bars. Ranks other than 0 print nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

import torch.distributed as dist

from stochrobust._checks import check_int, check_number
from stochrobust.metrics.distributed import rank_info

__all__ = ["progress"]

T = TypeVar("T")


def progress(
    iterable: Iterable[T],
    total: int,
    desc: str = "",
    *,
    stream: TextIO | None = None,
    step: float = 0.1,
    group: dist.ProcessGroup | None = None,
) -> Iterator[T]:
    """Yield the items of ``iterable`` while showing how many of ``total`` are done.

    Args:
        iterable: the work items.
        total: the number of items expected (``≥ 0``).
        desc: a label printed before the count.
        stream: where to write (default ``sys.stderr``).
        step: in a non-terminal stream, write a line each time this fraction of ``total``
            more is done (``(0, 1]``; ``0.1`` gives at most 11 lines).
        group: the process group whose rank 0 prints.

    Yields:
        The items of ``iterable``, unchanged.

    Raises:
        RangeError: ``total < 0`` or ``step`` not in ``(0, 1]``.

    Examples:
        >>> import io
        >>> log = io.StringIO()
        >>> list(progress(range(4), 4, "batches", stream=log, step=0.5))
        [0, 1, 2, 3]
        >>> print(log.getvalue().replace(log.getvalue().split()[-1], "T"), end="")
        batches 0/4 (0%)
        batches 2/4 (50%)
        batches 4/4 (100%) in T
    """
    n = check_int(total, "total", minimum=0)
    frac = check_number(step, "step", low=0.0, high=1.0, low_inclusive=False)
    if rank_info(group)[0] != 0:
        yield from iterable
        return
    out = sys.stderr if stream is None else stream
    tty = out.isatty()
    start = time.monotonic()
    label = f"{desc} " if desc else ""
    last = -1

    def show(done: int, final: bool) -> None:
        nonlocal last
        pct = 100 * done // n if n else 100
        mark = int(done / (frac * n)) if n else 0
        if not (tty or final or mark > last):
            return
        last = mark
        tail = f" in {time.monotonic() - start:.1f}s" if final else ""
        text = f"{label}{done}/{n} ({pct}%){tail}"
        out.write(f"\r{text}" + ("\n" if final else "") if tty else text + "\n")
        out.flush()

    show(0, n == 0)
    done = 0
    for item in iterable:
        yield item
        done += 1
        show(done, done == n)
    if done != n:
        show(done, True)
