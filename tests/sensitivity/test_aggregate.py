"""RobustnessAggregator: closed forms, exact merges, the attack path, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from stochrobust import ConvergenceWarning, Estimator, RangeError, StochRobustTypeError
from stochrobust.sensitivity import PGD, RobustnessAggregator, sensitivity_at

F64 = torch.float64
# the attacks here are deliberately short: their convergence warnings are expected
pytestmark = pytest.mark.filterwarnings("ignore::stochrobust.ConvergenceWarning")


def estimator() -> Estimator:
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3).double()
    return Estimator(lambda y, z: torch.tanh(lin(torch.cat([y, z], 1))), seed_shape=(2,))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_linear_model_closed_form() -> None:
    # G(y) = A y: eq. 2 is eps * sigma_max(A) = 0.5 * 2 at every input; eq. 9 is
    # 10 log10(1 / (||A delta||^2 / n)) with ||A delta||^2 = 1 and n = 2 outputs.
    A = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=F64)
    agg = RobustnessAggregator(0.5, solver=PGD(steps=30), generator=gen(0))
    y = torch.rand(7, 2, dtype=F64, generator=gen(1))
    agg.update(lambda v: v @ A.T, y[:3])
    agg.update(lambda v: v @ A.T, y[3:])
    rep = agg.compute()
    assert rep.n_samples == 7 and rep.n_seeds == 1 and rep.ball == "l2" and rep.eps == 0.5
    assert rep.r == pytest.approx(1.0, rel=1e-6)
    assert rep.r_tilde == pytest.approx(1.0, rel=1e-6)
    assert rep.mean_output_psnr == pytest.approx(10 * math.log10(2.0), abs=1e-4)
    assert rep.input_psnr.shape == (7,) and rep.values.device.type == "cpu"


def test_report_equals_the_textbook_statistics_of_the_values() -> None:
    agg = RobustnessAggregator(0.3, n_seeds=3, solver=PGD(steps=2), generator=gen(2))
    est = estimator()
    for i in range(3):
        agg.update(est, torch.rand(5, 3, dtype=F64, generator=gen(10 + i)))
    rep = agg.compute()
    v = rep.values.numpy()
    assert rep.r_tilde == pytest.approx(v.mean(), rel=1e-13)
    assert rep.r == pytest.approx(np.sqrt(v).mean(), rel=1e-13)
    assert rep.sqrt_r_tilde == pytest.approx(math.sqrt(v.mean()), rel=1e-13)
    assert rep.mean_output_psnr == pytest.approx(rep.output_psnr.numpy().mean(), rel=1e-13)
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert rep.ci == pytest.approx((lo, hi), rel=1e-10)
    assert torch.equal(rep.roots, rep.values.sqrt())


def test_attack_path_equals_results_added_by_hand() -> None:
    est = estimator()
    ys = [torch.rand(4, 3, dtype=F64, generator=gen(20 + i)) for i in range(2)]
    spec = dict(n_seeds=4, solver=PGD(steps=3), box=(-2.0, 2.0))
    a = RobustnessAggregator(0.2, generator=gen(3), **spec)  # type: ignore[arg-type]
    for y in ys:
        a.update(est, y)
    g = gen(3)
    b = RobustnessAggregator()
    for y in ys:
        b.update(sensitivity_at(est, y, 0.2, generator=g, **spec))  # type: ignore[arg-type]
    ra, rb = a.compute(), b.compute()
    assert torch.equal(ra.values, rb.values) and ra.r_tilde == rb.r_tilde
    assert ra.solver == rb.solver == repr(PGD(steps=3)) and ra.n_seeds == 4


def test_merge_is_exact_in_any_grouping() -> None:
    est = estimator()
    ys = [torch.rand(n, 3, dtype=F64, generator=gen(30 + n)) for n in (1, 4, 6)]
    results = [sensitivity_at(est, y, 0.3, n_seeds=2, generator=gen(5)) for y in ys]
    whole = RobustnessAggregator()
    parts = [RobustnessAggregator() for _ in results]
    for res, part in zip(results, parts, strict=True):
        whole.update(res)
        part.update(res)
    empty = RobustnessAggregator()
    merged = RobustnessAggregator().merge(parts[0]).merge(empty).merge(parts[1]).merge(parts[2])
    w, m = whole.compute(), merged.compute()
    assert m.n_samples == w.n_samples == 11 and torch.equal(m.values, w.values)
    v = w.values.numpy()
    for rep in (w, m):
        assert rep.r_tilde == pytest.approx(v.mean(), rel=1e-14)
        assert rep.ci == pytest.approx(
            stats.t.interval(0.95, 10, loc=v.mean(), scale=stats.sem(v)), rel=1e-10
        )
    assert int(parts[1].count) == 4  # merge leaves the other state unchanged
    # sync without torch.distributed: a copy, never aliasing this state's tensors
    copy = whole.sync()
    assert copy.compute().r_tilde == w.r_tilde and copy.values[0] is not whole.values[0]


def test_reset_and_empty() -> None:
    agg = RobustnessAggregator(0.1)
    agg.update(lambda y: y, torch.zeros(2, 3))
    agg.reset()
    with pytest.raises(RangeError, match="at least one input"):
        agg.compute()
    agg.update(lambda y: 2 * y, torch.zeros(1, 3))  # a new ball/seeds kind is allowed
    rep = agg.compute()
    assert rep.n_samples == 1 and rep.ci == (-math.inf, math.inf)


def test_eps_zero_and_varying_radii() -> None:
    agg = RobustnessAggregator(0.0)
    agg.update(lambda y: y, torch.rand(2, 3))
    rep = agg.compute()
    assert rep.r_tilde == 0.0 and rep.eps == 0.0 and rep.mean_output_psnr == math.inf
    b = RobustnessAggregator()
    b.update(sensitivity_at(lambda y: y, torch.zeros(2, 3), torch.tensor([0.1, 0.4])))
    assert b.compute().eps == pytest.approx(0.4)


def test_inputs_and_results_are_not_changed() -> None:
    y = torch.rand(3, 2)
    keep = y.clone()
    res = sensitivity_at(lambda v: 2 * v, y, 0.1)
    value = res.value.clone()
    agg = RobustnessAggregator(0.1)
    agg.update(res)
    agg.update(lambda v: 2 * v, y)
    agg.compute().values.mul_(0)  # the report's tensors are not the state's
    assert torch.equal(y, keep) and torch.equal(res.value, value)
    assert agg.compute().r == pytest.approx(0.2, rel=1e-5)


def test_errors_name_the_argument() -> None:
    with pytest.raises(RangeError, match="^ball: expected one of"):
        RobustnessAggregator(0.1, ball="l3")
    with pytest.raises(RangeError, match="^eps: expected"):
        RobustnessAggregator(-1.0)
    with pytest.raises(StochRobustTypeError, match="^solver: expected"):
        RobustnessAggregator(0.1, solver="pgd")  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="^generator: expected"):
        RobustnessAggregator(0.1, generator=0)  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="^confidence: expected"):
        RobustnessAggregator(0.1, confidence=1.5)
    with pytest.raises(RangeError, match="^eps: expected a radius"):
        RobustnessAggregator().update(lambda y: y, torch.zeros(1, 2))
    with pytest.raises(StochRobustTypeError, match="^result: expected a SensitivityResult"):
        RobustnessAggregator().update(torch.zeros(3))  # type: ignore[arg-type]
    agg = RobustnessAggregator()
    agg.update(sensitivity_at(lambda y: y, torch.zeros(1, 2), 0.1))
    with pytest.raises(RangeError, match="^result: expected ball='l2'"):
        agg.update(sensitivity_at(lambda y: y, torch.zeros(1, 2), 0.1, ball="linf"))
    other = RobustnessAggregator()
    other.update(sensitivity_at(estimator(), torch.zeros(1, 3, dtype=F64), 0.1, n_seeds=2))
    with pytest.raises(RangeError, match="^other: expected ball='l2' and n_seeds=1"):
        agg.merge(other)


def test_diagnostics_are_carried_totals_and_fractions() -> None:
    est = estimator()
    ys = [torch.rand(n, 3, dtype=F64, generator=gen(40 + n)) for n in (2, 5)]
    solvers = [PGD(steps=3, restarts=2), PGD(steps=7, restarts=2)]
    results = [
        sensitivity_at(est, y, 0.3, n_seeds=2, solver=s, generator=gen(6))
        for y, s in zip(ys, solvers, strict=True)
    ]
    agg = RobustnessAggregator()
    for res in results:
        agg.update(res)
    agg.update(sensitivity_at(est, ys[0], 0.0, n_seeds=2))  # no search: converged, 0 spent
    rep = agg.compute()
    diags = [r.diagnostics for r in results]
    assert all(d is not None for d in diags)
    spent = [d.evaluations for d in diags]  # type: ignore[union-attr]
    assert spent[0] < spent[1]
    assert rep.evaluations == spent[1]
    assert rep.total_evaluations == 2 * spent[0] + 5 * spent[1]
    flags = torch.cat([d.converged for d in diags] + [torch.ones(2, dtype=torch.bool)])  # type: ignore[union-attr]
    assert torch.equal(rep.converged, flags)
    assert rep.converged_fraction == pytest.approx(float(flags.double().mean()))
    gains = torch.cat([d.late_gain for d in diags] + [torch.zeros(2, dtype=F64)])  # type: ignore[union-attr]
    assert torch.equal(rep.late_gain.double(), gains.double())


def test_data_range_and_warn_options() -> None:
    # eq. 9 of G(y) = 2 y: the change is 2 delta, ||2 delta||^2 = 4 eps^2 over 3 values, so
    # PSNR = 10 log10(data_range^2 / (4 eps^2 / 3)); data_range=None: no range, NaN PSNRs.
    y = torch.full((2, 3), 0.25, dtype=F64)
    eps = 0.1
    want = {r: 10 * math.log10(r**2 / (4 * eps**2 / 3)) for r in (1.0, 2.0)}
    for data_range, psnr in want.items():
        agg = RobustnessAggregator(eps, solver=PGD(steps=20), data_range=data_range)
        agg.update(lambda v: 2 * v, y)
        assert agg.compute().mean_output_psnr == pytest.approx(psnr, abs=1e-6)
    agg = RobustnessAggregator(eps, solver=PGD(steps=20), data_range=None)
    agg.update(lambda v: 2 * v, y)
    assert math.isnan(agg.compute().mean_output_psnr)
    weak = PGD(steps=1)  # one start, one step: never flagged converged
    with pytest.warns(ConvergenceWarning):
        RobustnessAggregator(eps, solver=weak, warn=True).update(lambda v: 2 * v, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        quiet = RobustnessAggregator(eps, solver=weak, warn=False)
        quiet.update(lambda v: 2 * v, y)
    assert quiet.compute().converged_fraction == 0.0
