"""robustness, run_audit, the demo and the assertions aggregate identically (one aggregator)."""

from __future__ import annotations

import math

import pytest
import torch

from stochrobust.audit import run_audit
from stochrobust.demo import DemoConfig, demo_robustness
from stochrobust.demo.evaluate import demo_solver
from stochrobust.sensitivity import RobustnessReport, robustness
from stochrobust.testing import assert_output_psnr_above, assert_sensitivity_below
from stochrobust.toy import disk_posterior_estimator, sample_disk

CONFIG = DemoConfig(n_seeds=4, restarts=2)
# the attacks here are deliberately short: their convergence warnings are expected
pytestmark = pytest.mark.filterwarnings("ignore::stochrobust.ConvergenceWarning")


def inputs() -> torch.Tensor:
    _, y = sample_disk(7, generator=torch.Generator().manual_seed(11))
    return y


def gen() -> torch.Generator:
    return torch.Generator().manual_seed(5)


def figures(rep: RobustnessReport) -> tuple[object, ...]:
    return (rep.r_tilde, rep.r, rep.sqrt_r_tilde, rep.mean_output_psnr, rep.ci, rep.n_seeds)


def spec() -> dict[str, object]:
    return dict(n_seeds=CONFIG.n_seeds, solver=demo_solver(CONFIG.restarts), box=(-1.0, 1.0))


@pytest.mark.parametrize("batch_size", [7, 3])
def test_robustness_audit_and_demo_report_identical_aggregates(batch_size: int) -> None:
    est, y = disk_posterior_estimator(), inputs()
    rob = robustness(est, y, CONFIG.eps, batch_size=batch_size, progress=False,
                     generator=gen(), **spec())  # type: ignore[arg-type]  # fmt: skip
    audit = run_audit(est, y, CONFIG.eps, batch_size=batch_size, generator=gen(),
                      **spec()).robustness  # type: ignore[arg-type]  # fmt: skip
    assert figures(audit) == figures(rob) and rob.n_samples == 7
    assert torch.equal(audit.values, rob.values)
    assert torch.equal(audit.input_psnr, rob.input_psnr)
    assert rob.n_seeds == CONFIG.n_seeds and math.isfinite(rob.ci[1])
    if batch_size == 7:  # the demo attacks all its inputs at once
        demo = demo_robustness(est, y, CONFIG, generator=gen())
        assert figures(demo) == figures(rob) and torch.equal(demo.values, rob.values)


def test_mean_assertions_use_the_same_aggregate() -> None:
    est, y = disk_posterior_estimator(), inputs()
    rob = robustness(est, y, CONFIG.eps, batch_size=7, progress=False, generator=gen(),
                     **spec())  # type: ignore[arg-type]  # fmt: skip
    kw = dict(generator=gen(), budget=1.0, aggregate="mean", **spec())
    # the mean assertion passes at exactly R~ and fails just below it
    assert_sensitivity_below(est, y, CONFIG.eps, rob.r_tilde, **kw)  # type: ignore[arg-type]
    below = math.nextafter(rob.r_tilde, -math.inf)
    with pytest.raises(AssertionError, match="mean same-seed sensitivity over 7 inputs"):
        kw["generator"] = gen()
        assert_sensitivity_below(est, y, CONFIG.eps, below, **kw)  # type: ignore[arg-type]
    kw["generator"] = gen()
    assert_sensitivity_below(est, y, CONFIG.eps, max_norm=rob.r, **kw)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="eq. 3"):
        kw["generator"] = gen()
        assert_sensitivity_below(
            est, y, CONFIG.eps, max_norm=math.nextafter(rob.r, -math.inf), **kw
        )  # type: ignore[arg-type]
    kw["generator"] = gen()
    assert_output_psnr_above(est, y, CONFIG.eps, rob.mean_output_psnr, **kw)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="mean eq. 9 output PSNR"):
        kw["generator"] = gen()
        above = math.nextafter(rob.mean_output_psnr, math.inf)
        assert_output_psnr_above(est, y, CONFIG.eps, above, **kw)  # type: ignore[arg-type]
