"""The ``stochrobust audit`` subcommand: arguments, the run, exit codes.

Exit status: ``0`` audited (and within ``--max-sensitivity`` / ``--max-norm`` if given),
``1`` some input is above a bound (the reason on stderr), ``2`` any error — a bad path,
shape, NaN input, a failing factory, any exception raised by the model — as one line on
stderr with warnings folded in (``--traceback`` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from stochrobust._checks import check_int, check_number, check_positive
from stochrobust.audit.html_report import write_report
from stochrobust.audit.inputs import load_inputs, parse_shape
from stochrobust.audit.loading import load_model, model_source, oneline
from stochrobust.audit.report import AuditReport
from stochrobust.audit.run import run_audit
from stochrobust.errors import RangeError, StochRobustTypeError
from stochrobust.estimator import Estimator, as_estimator
from stochrobust.sensitivity.projections import BALLS
from stochrobust.sensitivity.protocol import SOLVER_NAMES, make_solver
from stochrobust.sensitivity.solvers import Solver

__all__ = ["DEFAULT_AI_PSNR", "add_arguments", "run"]

DEFAULT_AI_PSNR = 34.0
"""AI-PSNR (dB) used when neither ``--eps`` nor ``--ai-psnr`` is given ([O23] §6.1.1, SR)."""

MODEL_HELP = """\
MODEL is one of: a torch.export archive (.pt2, torch.export.save; loaded with
torch.export.load, every pickle inside with weights_only=True); a TorchScript file (loaded
with torch.jit.load: use archives from trusted sources only); package.module:factory
(imported from the current directory and sys.path) or path/to/file.py:factory. The two
factory forms IMPORT AND EXECUTE the module's code, then call factory() without arguments;
--weights FILE then loads a state_dict into the result (torch.load weights_only=True).
Nothing else is ever unpickled. Exit status: 0 pass, 1 above --max-sensitivity or
--max-norm, 2 any error (one line on stderr; --traceback for the full one)."""


class _Renamed(argparse.Action):
    """A 0.1 option spelling: stores into the new destination and records a deprecation."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kw: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
        values: Any, option_string: str | None = None,
    ) -> None:  # fmt: skip
        setattr(namespace, self.dest, values)
        notes = list(getattr(namespace, "deprecations", []))
        namespace.deprecations = [*notes, f"{option_string} is deprecated, use {self.new}"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``stochrobust audit`` on ``parser``.

    The options come in groups (model, inputs, attack, bounds, output, run); further
    attack options can be added to the parser afterwards.

    Args:
        parser: the subcommand's parser.

    Examples:
        >>> p = argparse.ArgumentParser()
        >>> add_arguments(p)
        >>> args = p.parse_args(["pkg.models:make", "--input", "imgs/", "--ai-psnr", "30"])
        >>> args.model, args.ai_psnr, args.eps, args.n_seeds, args.ball, args.data_range
        ('pkg.models:make', 30.0, None, 10, 'l2', 1.0)
    """
    parser.epilog = MODEL_HELP
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.set_defaults(deprecations=[])
    model = parser.add_argument_group("model")
    model.add_argument("model", metavar="MODEL", help="model file or factory (see below)")
    model.add_argument(
        "--weights",
        metavar="FILE",
        help="a state_dict checkpoint for a "
        "factory MODEL (torch.load weights_only=True; strict key match)",
    )
    model.add_argument(
        "--weights-key",
        metavar="KEY",
        help="where the state_dict sits in "
        "the checkpoint (default: the file itself, or state_dict/model/ema/...)",
    )
    model.add_argument(
        "--seed-shape",
        metavar="C,H,W",
        help="the model is stochastic, "
        "called as model(y, z) with z ~ N(0, I) of this per-input shape",
    )
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument(
        "--input",
        required=True,
        metavar="PATH",
        help="a .pt tensor (weights_only=True), a .npy array, an image or a folder of images",
    )
    inputs.add_argument(
        "--batch-dim",
        choices=("auto", "yes", "no"),
        default="auto",
        help="whether a tensor's first dimension indexes the inputs (auto: "
        "4-D is a batch, 3-D is one (C, H, W) input, other ranks are an error)",
    )
    inputs.add_argument(
        "--data-range",
        type=float,
        default=1.0,
        metavar="R",
        help="peak-to-peak range of the images, for the PSNRs (default 1)",
    )
    attack = parser.add_argument_group("attack")
    budget = attack.add_mutually_exclusive_group()
    budget.add_argument("--eps", type=float, metavar="E", help="attack radius on the input")
    budget.add_argument(
        "--ai-psnr",
        type=float,
        metavar="DB",
        dest="ai_psnr",
        help=f"radius from a worst-case adversarial-input PSNR (default {DEFAULT_AI_PSNR:g} dB)",
    )
    attack.add_argument("--ball", choices=BALLS, default="l2", help="the ball (default l2)")
    attack.add_argument(
        "--norm", choices=BALLS, dest="ball", action=_Renamed, new="--ball", help=argparse.SUPPRESS
    )
    attack.add_argument("--n-seeds", type=int, default=10, metavar="K", help="seeds for eq. 6")
    attack.add_argument(
        "--solver",
        choices=SOLVER_NAMES,
        default=None,
        help="the attack (default: protocol, or pgd when --steps/--restarts are given)",
    )
    attack.add_argument(
        "--budget",
        metavar="B",
        help="the protocol's budget: fast, default, thorough or objective evaluations per "
        "input (default: default = 100)",
    )
    attack.add_argument("--steps", type=int, metavar="N", help="steps of a non-protocol solver")
    attack.add_argument("--restarts", type=int, metavar="N", help="restarts of that solver")
    bounds = parser.add_argument_group("bounds (exit status 1 above)")
    bounds.add_argument(
        "--max-sensitivity",
        type=float,
        metavar="V",
        help="bound on every input's eq. 6 value (squared)",
    )
    bounds.add_argument(
        "--max-norm",
        type=float,
        metavar="V",
        help="bound on its root (eq. 2, ||G(y+d) - G(y)||, for a deterministic model)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="OUT", help="write the report as JSON")
    out.add_argument(
        "--report",
        metavar="DIR",
        help="write an HTML report (index.html, report.json and PNG figures) to DIR",
    )
    out.add_argument("--max-rows", type=int, default=20, help="per-input rows to print")
    run_ = parser.add_argument_group("run")
    run_.add_argument("--device", default="cpu", help="torch device (default cpu)")
    run_.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run_.add_argument("--batch-size", type=int, default=16, help="inputs per attack")
    run_.add_argument(
        "--n-diversity-seeds",
        type=int,
        default=8,
        metavar="M",
        help="seeds per input for the per-pixel std of stochastic models",
    )
    run_.add_argument(
        "--diversity-samples",
        type=int,
        dest="n_diversity_seeds",
        action=_Renamed,
        new="--n-diversity-seeds",
        help=argparse.SUPPRESS,
    )
    run_.add_argument("--traceback", action="store_true", help="show tracebacks of errors")


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


def _radius(args: argparse.Namespace, shape: tuple[int, ...], data_range: float) -> float:
    if args.eps is not None:
        return check_positive(args.eps, "--eps")
    target = DEFAULT_AI_PSNR if args.ai_psnr is None else check_number(args.ai_psnr, "--ai-psnr")
    eps: float = data_range * 10.0 ** (-target / 20.0)  # L-inf: |delta_i| <= eps, MSE <= eps^2
    if args.ball != "linf":
        eps *= math.sqrt(math.prod(shape))
    return eps


def _load(args: argparse.Namespace, device: torch.device) -> object:
    """Load MODEL; only the ``module:factory`` form puts the current directory on sys.path."""
    cwd = os.getcwd()
    added = model_source(args.model) == "module" and cwd not in sys.path
    if added:
        print(f"note: importing MODEL module {args.model.split(':')[0]!r} from the current "
              f"directory {cwd} and sys.path (its code is executed)")  # fmt: skip
        sys.path.insert(0, cwd)
    try:
        return load_model(args.model, device, weights=args.weights,
                          weights_key=args.weights_key, progress=print)  # fmt: skip
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _header(args: argparse.Namespace, est: Estimator, rep: AuditReport) -> str:
    kind = "deterministic"
    if est.is_stochastic:
        kind = "stochastic, " + (
            "its own seed sampler" if est.seed_shape is None else f"seed shape {est.seed_shape}"
        )
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


def _bound(value: float | None, name: str) -> float | None:
    return None if value is None else check_positive(value, name, allow_zero=True)


def _run(args: argparse.Namespace) -> int:
    device = _device(args.device)
    data_range = check_positive(args.data_range, "--data-range")
    max_v = _bound(args.max_sensitivity, "--max-sensitivity")
    max_r = _bound(args.max_norm, "--max-norm")
    model = _load(args, device)
    batch_dim = {"auto": None, "yes": True, "no": False}[args.batch_dim]
    y, names = load_inputs(args.input, batch_dim=batch_dim)
    est = _estimator(model, args.seed_shape)
    shape = tuple(int(s) for s in y.shape[1:])
    eps = _radius(args, shape, data_range)
    seed = check_int(args.seed, "--seed", minimum=0)
    rep = run_audit(
        est, y.to(device), eps, ball=args.ball,
        n_seeds=check_int(args.n_seeds, "--n-seeds", minimum=1),
        solver=_solver(args),
        generator=torch.Generator().manual_seed(seed),
        batch_size=check_int(args.batch_size, "--batch-size", minimum=1),
        n_diversity_seeds=check_int(args.n_diversity_seeds, "--n-diversity-seeds", minimum=2),
        names=names, data_range=data_range,
    )  # fmt: skip
    over = rep.exceeding(max_v, max_root=max_r)
    rep.settings.update(
        model=args.model, weights=args.weights, input=str(args.input), seed=seed,
        device=str(device), data_range=data_range, max_sensitivity=max_v, max_norm=max_r,
        passed=not over,
    )  # fmt: skip
    print(_header(args, est, rep))
    print(rep.format_table(max_rows=max(1, args.max_rows)))
    if args.json:
        _write_json(args.json, rep.to_dict())
    if args.report:
        page = write_report(rep, est, y.to(device), args.report,
                            generator=torch.Generator().manual_seed(seed))  # fmt: skip
        print(f"wrote {page}")
    if over:
        worst = over[0]
        print(
            f"stochrobust audit: FAILED: input {rep.label(worst)}: eq. 6 value "
            f"{float(rep.value[worst]):.4g}, root {float(rep.root[worst]):.4g} exceeds "
            + " / ".join(f"{n} {b:g}" for n, b in (("--max-sensitivity", max_v),
                                                  ("--max-norm", max_r)) if b is not None)
            + f" ({len(over)} of {len(rep.names)} inputs above)",
            file=sys.stderr,
        )  # fmt: skip
        return 1
    if max_v is not None or max_r is not None:
        print("PASSED: every input is within the bounds")
    return 0


def _hint(exc: BaseException, args: argparse.Namespace) -> str:
    text = str(exc)
    if "required positional argument" in text and args.seed_shape is None:
        return " (hint: a stochastic model G(y, z) needs --seed-shape C,H,W)"
    if "positional argument" in text and "were given" in text and args.seed_shape:
        return " (hint: the model takes no seed: drop --seed-shape)"
    if ("Expected input at" in text and "shape[0]" in text) or (  # torch.export with a
        "Guard failed" in text and "size()[0]" in text  # static batch size, torch < / ≥ 2.10
    ):
        return " (hint: export the model with a dynamic batch dimension, torch.export.Dim)"
    return ""


def run(args: argparse.Namespace) -> int:
    """Run ``stochrobust audit``; any error becomes one line on stderr and exit status 2.

    Warnings raised during the run are printed once each on stderr (``stochrobust audit:
    warning: ...``), or folded into the error line when the run fails.

    Args:
        args: the parsed arguments (see :func:`add_arguments`).

    Returns:
        The exit status: 0 passed, 1 above ``--max-sensitivity`` or ``--max-norm``, 2 error.

    Examples:
        >>> p = argparse.ArgumentParser()
        >>> add_arguments(p)
        >>> run(p.parse_args(["torch.nn:Identity", "--input", "no/such/file.npy"]))
        2
    """
    error: BaseException | None = None
    status = 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for note in getattr(args, "deprecations", []):
            warnings.warn(note, DeprecationWarning, stacklevel=1)
        try:
            status = _run(args)
        except (Exception, SystemExit) as exc:  # the model's exceptions included
            if args.traceback:
                raise
            error = exc
    seen: dict[str, None] = {}
    for w in caught:
        seen.setdefault(" ".join(f"{w.category.__name__}: {w.message}".split()))
    if error is None:
        for line in seen:
            print(f"stochrobust audit: warning: {line}", file=sys.stderr)
        return status
    folded = f" [warnings: {'; '.join(list(seen)[:3])}]" if seen else ""
    print(f"stochrobust audit: error: {oneline(error)}{_hint(error, args)}{folded}",
          file=sys.stderr)  # fmt: skip
    return 2
