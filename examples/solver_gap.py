"""How far the attack solvers stay from the true worst case, on linear models with known optima.

For a linear restorer ``G(y) = A y`` the eq. 6 sensitivity has closed forms: ``ε²σ_max(A)²``
on the L2 ball and ``ε² max_i ‖A eᵢ‖²`` on the L1 ball ([O23] eq. 6 with a Dirac output
law; the L1 maximum sits at a vertex ``±ε eᵢ``). This script draws random Gaussian ``d × d``
matrices, runs ``sensitivity_at`` with several solvers and reports, per solver, the value
found over the optimum (the worst of four inputs per matrix): the median and the worst
case over the matrices. Any attack gives a lower bound; this shows how loose it is and
which budget closes the gap (more steps on L2, more restarts on L1).

Run ``python examples/solver_gap.py`` (about 25 s on one core) or ``--quick``.
Writes ``solver_gap.json`` and ``solver_gap.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from stochrobust.sensitivity import PGD, Solver, sensitivity_at


def optimum(a: torch.Tensor, norm: str) -> float:
    """Closed-form eq. 6 optimum at ε = 1 for ``G(y) = A y``."""
    if norm == "l2":
        return float(torch.linalg.matrix_norm(a, 2) ** 2)
    return float(a.pow(2).sum(0).max())


def gaps(norm: str, solver: Solver | None, d: int, draws: int, seed: int) -> list[float]:
    """Value over optimum, worst of 4 inputs, for ``draws`` random ``d × d`` matrices."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(draws):
        a = torch.randn(d, d, generator=g, dtype=torch.float64)
        y = torch.randn(4, d, generator=g, dtype=torch.float64)
        res = sensitivity_at(
            lambda v, a=a: v @ a.T, y, 1.0, ball=norm, solver=solver, generator=g, data_range=None
        )
        out.append(float(res.value.min()) / optimum(a, norm))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI smoke run (seconds)")
    ap.add_argument("--draws", type=int, help="matrices per cell (default 20; quick 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="example-output/solver_gap", help="output folder")
    args = ap.parse_args()
    torch.set_num_threads(1)
    draws = args.draws or (3 if args.quick else 20)
    dims = (8,) if args.quick else (8, 32, 64)
    solvers: dict[str, list[tuple[str, Solver | None]]] = {
        "l2": [("default PGD()", None), ("PGD(steps=100)", PGD(steps=100))],
        "l1": [
            ("default PGD(steps=10, restarts=10)", None),
            ("PGD(steps=10, restarts=50)", PGD(steps=10, restarts=50)),
        ],
    }
    rows = []
    print(f"{'ball':4}  {'solver':36} {'d':>3}  {'median':>7}  {'worst':>6}")
    for norm, cases in solvers.items():
        for name, solver in cases:
            for d in dims:
                r = torch.tensor(gaps(norm, solver, d, draws, args.seed + d))
                row = {
                    "ball": norm,
                    "solver": name,
                    "d": d,
                    "ratios": r.tolist(),
                    "median": float(r.median()),
                    "worst": float(r.min()),
                }
                rows.append(row)
                print(f"{norm:4}  {name:36} {d:3}  {row['median']:7.3f}  {row['worst']:6.3f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "solver_gap.json").write_text(json.dumps({"draws": draws, "rows": rows}, indent=1))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    labels = [f"{r['ball']}  {r['solver']}  d={r['d']}" for r in rows]
    for i, r in enumerate(rows):
        ax.scatter(r["ratios"], [i] * len(r["ratios"]), s=12, alpha=0.6)
        ax.plot([r["median"]], [i], "k|", markersize=14)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("eq. 6 value found / closed-form optimum (worst of 4 inputs per matrix)")
    ax.set_title(f"Attack solvers on random Gaussian linear maps ({draws} per row)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "solver_gap.png", dpi=130)
    plt.close(fig)
    print(f"wrote {out / 'solver_gap.json'} and {out / 'solver_gap.png'}")


if __name__ == "__main__":
    main()
