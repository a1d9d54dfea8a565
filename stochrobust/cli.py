"""The ``stochrobust`` console script.

Subcommands:
    ``stochrobust demo``     the main job: a self-contained demonstration (no user files).
    ``stochrobust version``  print the library and torch versions.
    ``stochrobust audit``    audit a model file's sensitivity at given inputs.
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
    from stochrobust._selfcheck import run_selfcheck

    return run_selfcheck()


def _add_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``stochrobust audit`` (the logic lives in :mod:`stochrobust.audit.command`)."""

    def run(args: argparse.Namespace) -> int:
        from stochrobust.audit.command import run as run_audit_command

        return run_audit_command(args)

    from stochrobust.audit.command import add_arguments

    p_audit = sub.add_parser("audit", help="audit a model's sensitivity at given inputs")
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
    p_demo = sub.add_parser("demo", help="run the self-contained demonstration")
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

    Example:
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
