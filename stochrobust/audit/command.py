"""The ``stochrobust audit`` subcommand: arguments, the run, exit codes.

Exit status: ``0`` audited (and within ``--max-sensitivity`` if given), ``1`` the eq. 6
value of some input exceeds ``--max-sensitivity`` (the reason on stderr), ``2`` an error:
a bad path, shape, NaN input, a failing factory or model, ... — one line on stderr, no
traceback (``--traceback`` shows it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import torch

from stochrobust._checks import (
    RangeError,
    StochRobustError,
    StochRobustTypeError,
    check_int,
    check_number,
    check_positive,
)
from stochrobust.audit.loading import load_inputs, load_model, parse_shape
from stochrobust.audit.report import AuditReport, run_audit
from stochrobust.estimator import Estimator, as_estimator
from stochrobust.sensitivity.projections import BALLS
from stochrobust.sensitivity.protocol import SOLVER_NAMES, make_solver
from stochrobust.sensitivity.solvers import Solver

__all__ = ["DEFAULT_AI_PSNR", "add_arguments", "run"]

DEFAULT_AI_PSNR = 34.0
"""AI-PSNR (dB) used when neither ``--eps`` nor ``--ai-psnr`` is given ([O23] §6.1.1, SR)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``stochrobust audit`` on ``parser``.

    Args:
        parser: the subcommand's parser.

    Examples:
        >>> p = argparse.ArgumentParser()
        >>> add_arguments(p)
        >>> args = p.parse_args(["pkg.models:make", "--input", "imgs/", "--ai-psnr", "30"])
        >>> args.model, args.ai_psnr, args.eps, args.n_seeds, args.norm
        ('pkg.models:make', 30.0, None, 10, 'l2')
    """
    parser.add_argument(
        "model", metavar="MODEL", help="package.module:factory (a callable returning the "
        "model; imported from the current directory and sys.path) or a TorchScript file",
    )  # fmt: skip
    parser.add_argument(
        "--input", required=True, metavar="PATH",
        help="a .pt tensor (torch.load weights_only=True), a .npy array or a folder of PNGs",
    )  # fmt: skip
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--eps", type=float, metavar="E", help="attack radius on the input")
    budget.add_argument(
        "--ai-psnr", type=float, metavar="DB", dest="ai_psnr",
        help=f"radius from a worst-case adversarial-input PSNR (default {DEFAULT_AI_PSNR:g} dB)",
    )  # fmt: skip
    parser.add_argument(
        "--seed-shape", metavar="C,H,W", help="the model is stochastic, called as "
        "model(y, z) with z ~ N(0, I) of this per-sample shape",
    )  # fmt: skip
    parser.add_argument("--n-seeds", type=int, default=10, metavar="K", help="seeds for eq. 6")
    parser.add_argument("--norm", choices=BALLS, default="l2", help="the ball (default l2)")
    parser.add_argument(
        "--solver", choices=SOLVER_NAMES, default=None,
        help="the attack (default: protocol, or pgd when --steps/--restarts are given)",
    )  # fmt: skip
    parser.add_argument(
        "--budget", metavar="B", help="the protocol's budget: fast, default, thorough or "
        "objective evaluations per input (default: default = 100)",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, metavar="N", help="steps of a non-protocol solver")
    parser.add_argument("--restarts", type=int, metavar="N", help="restarts of that solver")
    parser.add_argument("--json", metavar="OUT", help="write the report as JSON")
    parser.add_argument(
        "--max-sensitivity", type=float, metavar="V",
        help="exit 1 if some input's eq. 6 value (squared) exceeds V",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--batch-size", type=int, default=16, help="inputs per attack")
    parser.add_argument(
        "--diversity-samples", type=int, default=8, metavar="M",
        help="samples per input for the per-pixel std of stochastic models",
    )  # fmt: skip
    parser.add_argument("--max-rows", type=int, default=20, help="per-input rows to print")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks of errors")


def _device(name: str) -> torch.device:
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise RangeError(
            f"--device: expected a torch device such as cpu or cuda, got {name!r}"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RangeError(f"--device: expected an available device, got {name!r} (no CUDA)")
    return dev


def _solver(args: argparse.Namespace) -> Solver:
    """The attack from --solver/--budget/--steps/--restarts (``make_solver``)."""
    name = args.solver or ("pgd" if (args.steps, args.restarts) != (None, None) else "protocol")
    budget = args.budget
    if isinstance(budget, str) and budget.isdigit():
        budget = int(budget)
    steps = None if args.steps is None else check_int(args.steps, "--steps", minimum=1)
    restarts = None if args.restarts is None else check_int(args.restarts, "--restarts", minimum=1)
    return make_solver(name, budget=budget, steps=steps, restarts=restarts)


def _estimator(model: object, seed_shape: str | None) -> Estimator:
    if seed_shape is None:
        return as_estimator(model)  # type: ignore[arg-type]
    if isinstance(model, Estimator):
        raise StochRobustTypeError(
            "--seed-shape: expected a raw model, got an Estimator from the factory (it "
            "already defines its seeds)"
        )
    return Estimator(model, seed_shape=parse_shape(seed_shape, "--seed-shape"))  # type: ignore[arg-type]


def _radius(args: argparse.Namespace, shape: tuple[int, ...]) -> float:
    if args.eps is not None:
        return check_positive(args.eps, "--eps")
    target = DEFAULT_AI_PSNR if args.ai_psnr is None else check_number(args.ai_psnr, "--ai-psnr")
    eps: float = 10.0 ** (-target / 20.0)  # L-inf: |delta_i| <= eps gives MSE <= eps^2
    if args.norm != "linf":
        eps *= math.sqrt(math.prod(shape))
    return eps


def _header(args: argparse.Namespace, est: Estimator, rep: AuditReport) -> str:
    kind = f"stochastic, seed shape {est.seed_shape}" if est.is_stochastic else "deterministic"
    return (
        f"stochrobust audit of {args.model} ({kind}) on {len(rep.names)} inputs of shape "
        f"{rep.input_shape} from {args.input}\n"
        f"eps = {rep.eps:.4g} on the {rep.ball} ball (worst-case AI-PSNR {rep.ai_psnr:.2f} dB); "
        f"solver {rep.solver}; n_seeds {rep.n_seeds}; seed {args.seed}; device {args.device}"
    )


def _write_json(path: str, data: dict[str, object]) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, allow_nan=False)
            fh.write("\n")
    except OSError as exc:
        raise OSError(f"--json: cannot write {path!r}: {exc.strerror or exc}") from exc


def _run(args: argparse.Namespace) -> int:
    device = _device(args.device)
    if os.getcwd() not in sys.path:  # MODEL modules are found in the current directory
        sys.path.insert(0, os.getcwd())
    model = load_model(args.model, device)
    inputs, names = load_inputs(args.input)
    est = _estimator(model, args.seed_shape)
    shape = tuple(int(s) for s in inputs.shape[1:])
    eps = _radius(args, shape)
    max_v = (
        None
        if args.max_sensitivity is None
        else check_positive(args.max_sensitivity, "--max-sensitivity", allow_zero=True)
    )
    rep = run_audit(
        est, inputs.to(device), eps, norm=args.norm,
        n_seeds=check_int(args.n_seeds, "--n-seeds", minimum=1),
        solver=_solver(args),
        generator=torch.Generator().manual_seed(check_int(args.seed, "--seed", minimum=0)),
        batch_size=check_int(args.batch_size, "--batch-size", minimum=1),
        diversity_samples=check_int(args.diversity_samples, "--diversity-samples", minimum=2),
        names=names,
    )  # fmt: skip
    over = [] if max_v is None else rep.exceeding(max_v)
    rep.settings.update(
        model=args.model, input=str(args.input), seed=args.seed, device=str(device),
        max_sensitivity=max_v, passed=not over,
    )  # fmt: skip
    print(_header(args, est, rep))
    print(rep.format_table(max_rows=max(1, args.max_rows)))
    if args.json:
        _write_json(args.json, rep.to_dict())
    if over:
        worst = over[0]
        print(
            f"stochrobust audit: FAILED: eq. 6 value {float(rep.value[worst]):.4g} at input "
            f"{rep.label(worst)} exceeds --max-sensitivity {max_v:g} "
            f"({len(over)} of {len(rep.names)} inputs above)",
            file=sys.stderr,
        )
        return 1
    if max_v is not None:
        print(f"PASSED: every eq. 6 value is <= --max-sensitivity {max_v:g}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``stochrobust audit``; errors become one line on stderr and exit status 2.

    Args:
        args: the parsed arguments (see :func:`add_arguments`).

    Returns:
        The exit status: 0 passed, 1 ``--max-sensitivity`` exceeded, 2 error.

    Examples:
        >>> p = argparse.ArgumentParser()
        >>> add_arguments(p)
        >>> run(p.parse_args(["torch.nn:Identity", "--input", "no/such/file.npy"]))
        2
    """
    try:
        return _run(args)
    except (StochRobustError, OSError, ValueError, RuntimeError) as exc:
        if args.traceback:
            raise
        text = " ".join(str(exc).split())
        print(f"stochrobust audit: error: {type(exc).__name__}: {text}", file=sys.stderr)
        return 2
