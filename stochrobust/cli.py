"""The ``stochrobust`` console script.

Subcommands:
    ``stochrobust demo [--out DIR] [--quick] [--device cpu|cuda]``  the main job: the
        central result of [O23] on the disk toy problem, measured with this library
        (precision/recall and eq. 6 sensitivity of deterministic vs stochastic estimators);
        writes ``results.json`` and PNG figures to ``DIR`` (default ``./stochrobust-demo``).
    ``stochrobust version``  print the library and torch versions.
    ``stochrobust audit MODEL --input PATH``  audit a model's sensitivity at given inputs
        (exit 0 pass, 1 above a bound, 2 any error; see :mod:`stochrobust.audit.command`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _cmd_version(args: argparse.Namespace) -> int:
    import torch

    import stochrobust

    print(f"stochrobust {stochrobust.__version__} (torch {torch.__version__})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from stochrobust.demo import DEFAULT_OUT, run_demo
    from stochrobust.errors import StochRobustError

    mode = "quick" if args.quick else "full"
    print(
        f"stochrobust demo ({mode}, device {args.device}, torch {torch.__version__}): disk toy "
        "problem of Ohayon et al. 2023, X uniform on the unit disk, Y = X^(1)"
    )
    try:
        out = args.out if args.out is not None else DEFAULT_OUT
        report = run_demo(out, quick=args.quick, device=args.device, progress=print)
    except StochRobustError as err:
        print(f"stochrobust demo: error: {err}", file=sys.stderr)
        return 2
    print()
    print(report.table)
    print()
    print(report.conclusion)
    print()
    for path in report.files:
        print(f"wrote {path}")
    print(f"done in {report.seconds:.1f} s")
    return 0


def _add_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``stochrobust audit`` (the logic lives in :mod:`stochrobust.audit.command`)."""

    def run(args: argparse.Namespace) -> int:
        from stochrobust.audit.command import run as run_audit_command

        return run_audit_command(args)

    from stochrobust.audit.command import add_arguments

    p_audit = sub.add_parser(
        "audit",
        help="audit a model's sensitivity at given inputs",
        description=(
            "Measure a model's worst-case sensitivity (Ohayon et al. 2023, eqs. 6, 7, 9)\n"
            "at given inputs: a table, --json, and an HTML report with --report DIR."
        ),
    )
    add_arguments(p_audit)
    p_audit.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``stochrobust`` command."""
    parser = argparse.ArgumentParser(
        prog="stochrobust",
        description="Robustness primitives for image-restoration models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p_demo = sub.add_parser(
        "demo",
        help="run the self-contained demonstration (about a minute on a laptop CPU)",
        description=(
            "Deterministic vs stochastic estimators on the disk toy problem of Ohayon et al. "
            "2023: precision/recall (k = 5) and the eq. 6 sensitivity at eps = 1e-3 of "
            "X_alpha = (Y, sqrt(1 - Y^2) sin(alpha Y)) for alpha in {1, 5, 20, 50} and of the "
            "posterior sampler. Prints a table and writes results.json and PNG figures."
        ),
    )
    p_demo.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output folder for results.json and the figures (default: ./stochrobust-demo)",
    )
    p_demo.add_argument(
        "--quick", action="store_true", help="smaller sample sizes (a few seconds; for CI)"
    )
    p_demo.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where to compute (default: cpu)"
    )
    p_demo.set_defaults(func=_cmd_demo)
    p_ver = sub.add_parser("version", help="print versions")
    p_ver.set_defaults(func=_cmd_version)
    _add_audit(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stochrobust`` console script; returns the exit status.

    Args:
        argv: command-line arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The process exit status (0 on success).

    Examples:
        >>> main(["version"])  # doctest: +ELLIPSIS
        stochrobust ... (torch ...)
        0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
