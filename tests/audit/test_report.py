from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from stochrobust import Estimator, ModelError, ShapeError
from stochrobust.audit import run_audit
from stochrobust.metrics import per_pixel_std
from stochrobust.sensitivity import PGD, local_lipschitz, sensitivity_at


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_linear_closed_forms() -> None:
    # G(y) = c·y on the L2 ball: eq. 2 = c·eps, eq. 6 = (c·eps)², Lipschitz c,
    # eq. 9 = 10·log10(n / (c·eps)²), AI-PSNR = 10·log10(n / eps²)
    c, eps, n = 0.5, 0.2, 3 * 4 * 4
    y = torch.rand(5, 3, 4, 4, dtype=torch.float64, generator=gen())
    rep = run_audit(lambda t: c * t, y, eps, generator=gen(), batch_size=2)
    assert rep.root.tolist() == pytest.approx([c * eps] * 5, rel=1e-9)
    assert rep.value.tolist() == pytest.approx([(c * eps) ** 2] * 5, rel=1e-9)
    assert rep.lipschitz.tolist() == pytest.approx([c] * 5, rel=1e-9)
    assert rep.output_psnr.tolist() == pytest.approx([10 * math.log10(n / (c * eps) ** 2)] * 5)
    assert rep.input_psnr.tolist() == pytest.approx([10 * math.log10(n / eps**2)] * 5)
    assert rep.ai_psnr == pytest.approx(10 * math.log10(n / eps**2))
    assert rep.diversity is None and not rep.stochastic and rep.n_seeds == 1
    agg = rep.aggregate()
    assert agg["r_tilde"] == pytest.approx((c * eps) ** 2)
    assert agg["sqrt_r_tilde"] == pytest.approx(c * eps)
    assert agg["max_lipschitz"] == pytest.approx(c)


def test_matches_sensitivity_at_and_local_lipschitz() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Tanh())
    y = torch.rand(3, 1, 6, 6, generator=gen(1))
    rep = run_audit(net, y, 0.3, generator=gen(2))
    ref = sensitivity_at(net, y, 0.3, generator=gen(2))
    assert torch.equal(rep.value, ref.value) and torch.equal(rep.output_psnr, ref.output_psnr)
    # the Lipschitz bound at the maximiser is what local_lipschitz returns for it
    lip = local_lipschitz(net, y, 0.3, generator=gen(2))
    assert torch.allclose(rep.lipschitz, lip, rtol=1e-6)


def test_linf_ball_ai_psnr() -> None:
    # L-inf radius eps: the worst MSE is eps², AI-PSNR = -20·log10(eps)
    rep = run_audit(lambda t: t, torch.rand(2, 1, 3, 3), 0.01, ball="linf", generator=gen())
    assert rep.ai_psnr == pytest.approx(40.0)
    assert rep.input_psnr.tolist() == pytest.approx([40.0, 40.0], abs=1e-3)


def test_stochastic_diversity_closed_form() -> None:
    # seeds alternate ±1 along the rows: n = 8 samples y ± s, unbiased std s·sqrt(8/7)
    s = 0.05

    def signs(rows: int, y: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        z = torch.ones(rows, *y.shape[1:], dtype=y.dtype)
        z[1::2] = -1
        return z

    est = Estimator(lambda y, z: y + s * z, seed_sampler=signs)
    rep = run_audit(est, torch.rand(3, 1, 4, 4), 0.1, n_seeds=4, n_diversity_seeds=8,
                    generator=gen())  # fmt: skip
    assert rep.stochastic and rep.n_seeds == 4
    assert rep.diversity.tolist() == pytest.approx([s * math.sqrt(8 / 7)] * 3, rel=1e-5)
    assert rep.root.tolist() == pytest.approx([0.1] * 3, rel=1e-5)  # the seed cancels


def test_stochastic_diversity_matches_per_pixel_std() -> None:
    net = torch.nn.Conv2d(2, 1, 3, padding=1)
    est = Estimator(lambda y, z: net(torch.cat([y, z], 1)), seed_shape=(1, 5, 5))
    y = torch.rand(2, 1, 5, 5, generator=gen(3))
    g = gen(4)
    rep = run_audit(est, y, 0.1, n_seeds=3, n_diversity_seeds=6, generator=g)
    # replay: the attack (the probe has a generator of its own), then the diversity samples
    g2 = gen(4)
    sensitivity_at(est, y, 0.1, n_seeds=3, generator=g2)
    with torch.no_grad():
        ref = per_pixel_std(est.sample(y, 6, generator=g2))
    assert torch.allclose(rep.diversity, ref)


def test_table_json_and_exceeding() -> None:
    # G(t) = t_0 * t_rest at y = (c, 0, 0, 0): eq. 2 is c * eps to first order, so the three
    # inputs have sensitivities (0.01, 0.09, 0.04) to about 1e-3 relative
    y = torch.zeros(3, 4)
    y[:, 0] = torch.tensor([1.0, 3.0, 2.0])
    rep = run_audit(
        lambda t: t[:, :1] * t[:, 1:], y, 0.1, generator=gen(), names=["a", "b", "c"],
        data_range=4.0,  # inputs up to 3
    )  # fmt: skip
    assert rep.value.tolist() == pytest.approx([0.01, 0.09, 0.04], rel=1e-2)
    assert rep.exceeding(0.02) == [1, 2]
    assert rep.exceeding(1.0) == []
    table = rep.format_table(max_rows=2)
    assert "the 2 most sensitive of 3" in table
    rows = [ln.split()[1] for ln in table.splitlines()[2:4]]
    assert rows == ["b", "c"]
    assert "max eq. 6 value" in table and "(input 1: b)" in table
    data = json.loads(json.dumps(rep.to_dict(), allow_nan=False))
    assert [r["name"] for r in data["per_input"]] == ["a", "b", "c"]
    assert data["per_input"][1]["value"] == pytest.approx(0.09, rel=1e-2)
    assert data["settings"]["n_inputs"] == 3 and data["aggregate"]["argmax_value"] == 1


def test_inf_psnr_in_json() -> None:
    # outputs that did not move have an infinite eq. 9 PSNR: strict JSON gets the string "inf"
    rep = run_audit(lambda t: t, torch.zeros(1, 2), 0.1, generator=gen())
    moved = replace(rep.robustness, output_psnr=torch.tensor([math.inf]), mean_output_psnr=math.inf)
    rep = replace(rep, robustness=moved)
    data = rep.to_dict()
    assert data["per_input"][0]["output_psnr"] == "inf"
    assert data["aggregate"]["mean_output_psnr"] == "inf"
    json.dumps(data, allow_nan=False)


def test_model_failures_become_model_errors() -> None:
    y = torch.rand(2, 1, 4, 4)
    conv3 = torch.nn.Conv2d(3, 3, 3)
    with pytest.raises(ModelError, match=r"y of shape \(1, 1, 4, 4\).*RuntimeError") as info:
        run_audit(conv3, y, 0.1)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match="output batch of 2 rows"):
        run_audit(lambda t: t.sum(0, keepdim=True), y, 0.1)
    with pytest.raises(ShapeError, match="names"):
        run_audit(lambda t: t, y, 0.1, names=["a"])


def test_solver_is_used() -> None:
    rep = run_audit(lambda t: 2 * t, torch.zeros(2, 3), 0.1, solver=PGD(steps=3), generator=gen())
    assert rep.solver.startswith("PGD(restarts=1, random_start=True, steps=3,")


def test_old_spellings_warn_and_still_work() -> None:
    y = torch.rand(2, 1, 3, 3, generator=gen(5))
    with pytest.warns(DeprecationWarning) as record:
        rep = run_audit(lambda t: 2 * t, inputs=y, eps=0.1, norm="linf", generator=gen())
    assert {str(w.message) for w in record} == {
        "run_audit: the argument inputs= is deprecated since 0.2, use y=",
        "run_audit: the argument norm= is deprecated since 0.2, use ball=",
    }
    assert rep.ball == "linf"
    with pytest.warns(DeprecationWarning, match=r"AuditReport.norm is deprecated, use .root"):
        assert torch.equal(rep.norm, rep.root)
    est = Estimator(lambda t, z: t + 0.1 * z, seed_shape=(1, 3, 3))
    with pytest.warns(DeprecationWarning, match="diversity_samples= is deprecated"):
        rep = run_audit(est, y, 0.1, n_seeds=2, diversity_samples=3, generator=gen())
    assert rep.diversity is not None


def test_run_audit_at_its_0_1_location_warns_and_is_the_same_function() -> None:
    from stochrobust.audit import report

    with pytest.warns(DeprecationWarning, match=r"audit\.report\.run_audit is deprecated.*"
                      r"use stochrobust\.audit\.run_audit"):  # fmt: skip
        old = report.run_audit
    assert old is run_audit
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        report.missing  # noqa: B018


def test_delta_is_the_maximiser_and_max_root() -> None:
    # G(y) = 3y on the L2 ball of radius 0.2: δ on the sphere, root = 0.6 = 3 ‖δ‖
    y = torch.rand(3, 2, 4, generator=gen(6))
    rep = run_audit(lambda t: 3 * t, y, 0.2, generator=gen())
    assert rep.delta.shape == y.shape
    assert rep.delta.flatten(1).norm(dim=1).tolist() == pytest.approx([0.2] * 3, rel=1e-5)
    assert rep.exceeding(max_root=0.59) == sorted(range(3), key=lambda i: -float(rep.value[i]))
    assert rep.exceeding(max_root=0.61) == [] and rep.exceeding() == []
