from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from stochrobust import Estimator, ShapeError, StochRobustTypeError
from stochrobust.sensitivity import PGD, robustness, sensitivity_at

F64 = torch.float64


def stochastic_estimator() -> Estimator:
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3).double()
    return Estimator(lambda y, z: torch.tanh(lin(torch.cat([y, z], 1))), seed_shape=(2,))


def test_tensor_iterable_and_dataloader_give_the_same_report() -> None:
    est = stochastic_estimator()
    data = torch.rand(10, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    labels = torch.arange(10)
    kw = dict(n_seeds=4, solver=PGD(steps=3), progress=False)
    a = robustness(est, data, 0.3, batch_size=4, generator=torch.Generator().manual_seed(2), **kw)
    batches = [data[i : i + 4] for i in range(0, 10, 4)]
    b = robustness(est, iter(batches), 0.3, generator=torch.Generator().manual_seed(2), **kw)
    loader = DataLoader(TensorDataset(data, labels), batch_size=4, shuffle=False)
    c = robustness(est, loader, 0.3, generator=torch.Generator().manual_seed(2), **kw)
    assert a.r_tilde == b.r_tilde == c.r_tilde
    assert torch.equal(a.values, c.values) and a.n_samples == 10
    # ... and equal to sensitivity_at batch by batch with the same generator.
    g = torch.Generator().manual_seed(2)
    ref = torch.cat(
        [sensitivity_at(est, x, 0.3, n_seeds=4, solver=PGD(steps=3), generator=g).value
         for x in batches]
    )  # fmt: skip
    assert torch.equal(a.values, ref)


def test_report_fields_and_confidence_interval() -> None:
    est = stochastic_estimator()
    data = torch.rand(12, 3, dtype=F64)
    rep = robustness(est, data, 0.3, n_seeds=3, solver=PGD(steps=2), progress=False)
    v = rep.values
    assert rep.r_tilde == pytest.approx(float(v.mean()))
    assert rep.r == pytest.approx(float(v.sqrt().mean()))
    assert rep.sqrt_r_tilde == pytest.approx(math.sqrt(rep.r_tilde))
    assert rep.r <= rep.sqrt_r_tilde + 1e-12  # Jensen
    assert rep.mean_output_psnr == pytest.approx(float(rep.output_psnr.mean()))
    lo, hi = rep.ci
    assert lo < rep.r_tilde < hi
    # Student-t half width from the textbook formula (t_{0.975, 11} = 2.200985).
    half = 2.200985 * float(v.std()) / math.sqrt(12)
    assert (hi - lo) / 2 == pytest.approx(half, rel=1e-5)
    assert rep.values.device.type == "cpu" and rep.input_psnr.shape == (12,)
    assert "R~=" in repr(rep)
    wider = robustness(
        est, data, 0.3, n_seeds=3, solver=PGD(steps=2), progress=False, confidence=0.99
    )
    assert wider.ci[1] - wider.ci[0] > hi - lo


def test_single_sample_interval_is_unbounded_and_deterministic_report() -> None:
    A = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=F64)
    rep = robustness(lambda y: y @ A.T, torch.rand(1, 2, dtype=F64), 0.5, progress=False)
    assert rep.ci == (-math.inf, math.inf)
    assert rep.r == pytest.approx(1.0) and rep.n_seeds == 1


def test_progress_bar_can_be_switched(capsys) -> None:
    A = torch.eye(2, dtype=F64)
    robustness(lambda y: y @ A, torch.rand(4, 2, dtype=F64), 0.1, batch_size=2, progress=True)
    assert "robustness" in capsys.readouterr().err
    robustness(lambda y: y @ A, torch.rand(4, 2, dtype=F64), 0.1, batch_size=2, progress=False)
    assert capsys.readouterr().err == ""


def test_bad_data() -> None:
    model = lambda y: 2 * y  # noqa: E731
    with pytest.raises(StochRobustTypeError, match="data"):
        robustness(model, 3, 0.1, progress=False)  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="batches"):
        robustness(model, [{"y": torch.rand(2, 2)}], 0.1, progress=False)
    with pytest.raises(ShapeError, match="at least one batch"):
        robustness(model, [], 0.1, progress=False)
    with pytest.raises(ShapeError):
        robustness(model, torch.zeros(0, 3), 0.1, progress=False)
