"""App. C of Ohayon et al. 2023: an erratic deterministic estimator's W2 goes to 0.

X is uniform on the square [0, 1]², Y = X^(1), and the consistent deterministic estimator
X̂_f = (Y, G_f(Y)) with the zigzag G_f(y) = arccos(cos(2πfy))/π has f teeth. [O23] App. C
proves W2(p_X, p_X̂) → 0 as the integer f grows: by becoming ever more erratic (its slope
is ±2f), a deterministic estimator gets arbitrarily close to perfect perceptual quality.

The Monge map of App. C (eq. 12–13) moves each point horizontally within its strip of width
1/(2f), which gives the closed-form upper bound W2 ≤ 1/(2f·sqrt(6)). This script measures
the exact empirical W2 between n data points and n outputs (stochrobust.metrics.w2_empirical,
an optimal assignment) for several f, averaged over draws, next to that bound and the noise
floor of the estimate (the empirical W2 between two independent n-samples of p_X itself).

    python examples/zigzag_w2.py [--quick] [--n N] [--draws D] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch

from stochrobust.metrics import w2_empirical
from stochrobust.toy import OutputColumn, plot_outputs, sample_square, zigzag


def monge_bound(f: int) -> float:
    """W2 of the App. C transport map: within a strip, E[(U − V)²]/(2f)² = 1/(6·(2f)²)."""
    return 1.0 / (2 * f * math.sqrt(6))


def measure(fs: list[int], n: int, draws: int, gen: torch.Generator) -> dict:
    rows = []
    floor = []
    for _ in range(draws):
        a, _ = sample_square(n, generator=gen, dtype=torch.float64)
        b, _ = sample_square(n, generator=gen, dtype=torch.float64)
        floor.append(float(w2_empirical(a, b)))
    for f in fs:
        vals = []
        for _ in range(draws):
            x, _ = sample_square(n, generator=gen, dtype=torch.float64)
            _, y = sample_square(n, generator=gen, dtype=torch.float64)
            vals.append(float(w2_empirical(x, zigzag(y, f))))
        rows.append(
            {
                "f": f,
                "w2_mean": statistics.fmean(vals),
                "w2_std": statistics.stdev(vals) if draws > 1 else 0.0,
                "monge_bound": monge_bound(f),
            }
        )
    return {
        "rows": rows,
        "floor_mean": statistics.fmean(floor),
        "floor_std": statistics.stdev(floor) if draws > 1 else 0.0,
    }


def plot(result: dict, n: int, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, NullFormatter, ScalarFormatter

    fs = [r["f"] for r in result["rows"]]
    w2 = [r["w2_mean"] for r in result["rows"]]
    err = [r["w2_std"] for r in result["rows"]]
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    ax.errorbar(
        fs,
        w2,
        yerr=err,
        fmt="o-",
        color="tab:blue",
        capsize=3,
        label=rf"empirical $W_2(p_X, p_{{\hat X_f}})$, n = {n}",
    )
    fine = [fs[0] * (fs[-1] / fs[0]) ** (i / 200) for i in range(201)]
    ax.plot(
        fine,
        [monge_bound(f) for f in fine],
        "--",
        color="tab:green",
        label=r"App. C transport bound $1/(2f\sqrt{6})$",
    )
    ax.axhline(
        result["floor_mean"],
        color="0.4",
        ls=":",
        label=r"noise floor: $W_2$ between two n-samples of $p_X$",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(fs)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    lo = min(min(w2), result["floor_mean"], monge_bound(fs[-1])) / 1.3
    hi = max(max(w2), monge_bound(fs[0])) * 1.3
    ax.set_ylim(lo, hi)
    ax.set_yticks([t for t in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5) if lo <= t <= hi])
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("number of teeth f (log)")
    ax.set_ylabel(r"$W_2$ (log)")
    ax.set_title(
        r"Zigzag $G_f(y) = \arccos(\cos 2\pi f y)/\pi$ on the square: $W_2 \to 0$", fontsize=10
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "zigzag_w2.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI smoke run (seconds)")
    ap.add_argument("--n", type=int, help="points per cloud (default 2000; quick 300)")
    ap.add_argument("--draws", type=int, help="independent draws averaged (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="example-output/zigzag_w2", help="output folder")
    args = ap.parse_args(argv)
    n = args.n or (300 if args.quick else 2000)
    draws = args.draws or (2 if args.quick else 3)
    fs = [1, 2, 4, 8] if args.quick else [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    result = measure(fs, n, draws, gen)
    print(f"{'f':>4}  {'W2 (mean ± std)':>18}  {'App. C bound':>12}")
    for r in result["rows"]:
        print(f"{r['f']:>4}  {r['w2_mean']:>9.4f} ± {r['w2_std']:.4f}  {r['monge_bound']:>12.4f}")
    print(
        f"noise floor (two {n}-samples of p_X): {result['floor_mean']:.4f} "
        f"± {result['floor_std']:.4f}"
    )
    figs = [plot(result, n, out)]
    xs, _ = sample_square(100, generator=gen)
    _, ys = sample_square(5000, generator=gen)
    cols = [
        OutputColumn(f"f = {f}", zigzag(ys, f), zigzag(ys[:100], f), True)
        for f in (fs[0], fs[len(fs) // 2], fs[-1])
    ]
    figs.append(
        plot_outputs(
            cols,
            xs,
            out / "zigzag_supports.png",
            region="square",
            title="Supports of the zigzag estimators (App. C, Fig. 6)",
        )
    )
    result.update({"n": n, "draws": draws, "seconds": round(time.perf_counter() - start, 1)})
    (out / "zigzag_w2.json").write_text(json.dumps(result, indent=2) + "\n")
    print("wrote " + ", ".join(str(p) for p in [out / "zigzag_w2.json", *figs]))
    print(f"total {result['seconds']} s")


if __name__ == "__main__":
    main()
