from __future__ import annotations

import math

import pytest
import torch

from stochrobust import ModelError, NonFiniteError, RangeError, ShapeError, StochRobustTypeError
from stochrobust.sensitivity import BIM, CW, FGSM, PGD, AdamAscent, Protocol, default_solver
from stochrobust.sensitivity._ascent import Problem, uniform_ball

ORDERS = {"l2": 2.0, "linf": math.inf, "l1": 1.0}

SOLVERS = {
    "pgd": lambda: PGD(steps=6),
    "pgd-l1top3": lambda: PGD(steps=6, l1_topk=3),
    "adam": lambda: AdamAscent(),
    "adam-small-lr": lambda: AdamAscent(steps=4, lr=0.05),
    "fgsm": lambda: FGSM(),
    "bim": lambda: BIM(steps=5),
    "cw": lambda: CW(steps=6),
}
CASES = [(name, norm) for name, make in SOLVERS.items() for norm in make().balls]


def nonlinear_objective(seed: int = 0, d: int = 6):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(5, d, generator=g, dtype=torch.float64)
    b = torch.randn(5, generator=g, dtype=torch.float64)

    def objective(delta: torch.Tensor) -> torch.Tensor:
        return torch.tanh(delta @ a.T + b).pow(2).sum(1) - torch.tanh(b).pow(2).sum()

    return objective


@pytest.mark.parametrize("box", [None, (0.0, 1.0)])
@pytest.mark.parametrize(("name", "norm"), CASES)
def test_every_solver_respects_ball_and_box(name, norm, box) -> None:
    y = torch.rand(7, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    eps = torch.tensor([0.0, 0.05, 0.3, 1.0, 2.0, 0.4, 10.0], dtype=torch.float64)
    solver = SOLVERS[name]()
    delta = solver(
        nonlinear_objective(), y, eps, ball=norm, box=box,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    size = delta.norm(p=ORDERS[norm], dim=1)
    assert bool((size <= eps * (1 + 1e-9) + 1e-12).all())
    assert torch.equal(delta[0], torch.zeros(6, dtype=torch.float64))
    if box is not None or name == "cw":  # CW always has a box, [0, 1] by default
        assert bool(((y + delta) >= -1e-12).all() and ((y + delta) <= 1 + 1e-12).all())


@pytest.mark.parametrize(("name", "norm"), CASES)
def test_best_over_restarts_never_worse_than_one(name, norm) -> None:
    y = torch.rand(6, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    obj = nonlinear_objective(1)
    single = SOLVERS[name]()
    multi = SOLVERS[name]()
    multi.restarts = 4
    v1 = single.maximize(obj, y, 0.7, ball=norm, generator=torch.Generator().manual_seed(9))
    v4 = multi.maximize(obj, y, 0.7, ball=norm, generator=torch.Generator().manual_seed(9))
    assert bool((v4.value >= v1.value).all())


@pytest.mark.parametrize(("name", "norm"), CASES)
def test_value_is_the_objective_at_delta_and_reproducible(name, norm) -> None:
    y = torch.rand(4, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    obj = nonlinear_objective(2)
    run = [
        SOLVERS[name]().maximize(obj, y, 0.5, ball=norm, generator=torch.Generator().manual_seed(1))
        for _ in range(2)
    ]
    assert torch.equal(run[0].delta, run[1].delta) and torch.equal(run[0].value, run[1].value)
    torch.testing.assert_close(run[0].value, obj(run[0].delta), rtol=0, atol=0)


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_uniform_ball_samples_fill_the_ball(norm) -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.zeros(4000, 3, dtype=torch.float64)
    eps = torch.full((4000,), 2.0, dtype=torch.float64)
    pts = uniform_ball(y, eps, norm, g)
    r = pts.norm(p=ORDERS[norm], dim=1) / 2.0
    assert bool((r <= 1 + 1e-12).all())
    # Uniform in a 3-D ball: P(r <= t) = t^3 for every norm.
    for t in (0.5, 0.8):
        assert abs(float((r <= t).double().mean()) - t**3) < 0.03
    assert abs(float(pts.mean())) < 0.05


def test_pgd_l1_moves_to_the_best_vertex_of_a_rank_one_quadratic() -> None:
    v = torch.tensor([[0.3, -2.0, 0.5, 1.0]], dtype=torch.float64)
    obj = lambda d: (d @ v.T).pow(2).sum(1)  # noqa: E731
    best = PGD(steps=5).maximize(
        obj, torch.zeros(2, 4, dtype=torch.float64), 0.5, ball="l1",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    torch.testing.assert_close(best.delta.abs(), torch.tensor([[0, 0.5, 0, 0]] * 2).double())
    torch.testing.assert_close(best.value, torch.full((2,), 1.0, dtype=torch.float64))


def test_fgsm_and_bim_take_sign_steps_of_the_documented_length() -> None:
    assert BIM(steps=8).step_size == 1 / 8
    assert FGSM().step_size == 1.0
    # One gradient evaluation, then the stepped point (no mirror): 2 evaluations.
    best = FGSM().maximize(lambda d: d.pow(2).sum(1), torch.zeros(2, 3), 0.2)
    assert best.diagnostics.gradient_evaluations == 1 and best.diagnostics.evaluations == 2
    # Diagonal quadratic: from any interior start the L-inf optimum is a corner.
    obj = lambda d: (d * torch.tensor([1.0, 2.0, 3.0])).pow(2).sum(1)  # noqa: E731
    delta = FGSM()(obj, torch.zeros(5, 3), 0.2, ball="linf", generator=torch.Generator())
    torch.testing.assert_close(delta.abs(), torch.full((5, 3), 0.2))


def test_adam_ascent_matches_torch_optim_adam_with_projection() -> None:
    """Peer check: one restart equals torch.optim.Adam on -objective + projection."""
    obj = nonlinear_objective(3)
    y = torch.rand(3, 6, dtype=torch.float64)
    eps = torch.full((3,), 0.4, dtype=torch.float64)
    solver = AdamAscent(steps=5, lr=0.1, betas=(0.8, 0.99))
    problem = Problem(obj, y, eps, "l2", None, True)
    start = problem.start(generator=torch.Generator().manual_seed(2))
    ours = solver.ascend(problem, start)

    delta = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([delta], lr=0.1, betas=(0.8, 0.99), eps=1e-8)
    for _ in range(5):
        opt.zero_grad()
        (-obj(delta).sum()).backward()
        opt.step()
        with torch.no_grad():
            n = delta.norm(dim=1, keepdim=True)
            delta.mul_(torch.clamp(0.4 / n, max=1.0))
    torch.testing.assert_close(ours, delta.detach(), rtol=1e-10, atol=1e-12)


def test_evaluations_per_call_are_steps_plus_one_per_restart() -> None:
    calls: list[bool] = []

    def obj(d: torch.Tensor) -> torch.Tensor:
        calls.append(torch.is_grad_enabled())
        return d.pow(2).sum(1)

    PGD(steps=7, restarts=3, mirror=False).maximize(obj, torch.zeros(2, 3), 1.0)
    assert len(calls) == 3 * 8 and calls.count(False) == 3  # one no-grad final per restart
    calls.clear()
    PGD(steps=7, restarts=3).maximize(obj, torch.zeros(2, 3), 1.0)
    assert len(calls) == 3 * 9 and calls.count(False) == 6  # ... and its mirror
    calls.clear()
    AdamAscent(steps=5)(obj, torch.zeros(2, 3), 1.0)
    assert len(calls) == 6


def test_no_host_synchronisation_inside_the_loop(monkeypatch) -> None:
    """The number of tensor→host conversions does not grow with the number of steps."""
    counter = {"n": 0}
    for meth in ("__bool__", "item", "__float__", "tolist"):
        orig = getattr(torch.Tensor, meth)

        def wrapped(self, *a, _orig=orig, **k):
            counter["n"] += 1
            return _orig(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, meth, wrapped)
    obj = nonlinear_objective(0)
    y = torch.rand(3, 6, dtype=torch.float64)
    counts = []
    for make in (PGD, AdamAscent, CW):
        per_steps = []
        for steps in (2, 12):
            counter["n"] = 0
            make(steps=steps)(obj, y.clamp(0.1, 0.9), 0.3)
            per_steps.append(counter["n"])
        counts.append(per_steps)
    assert all(a == b for a, b in counts), counts


def test_random_start_false_gives_a_clear_error_for_sensitivity_objectives() -> None:
    obj = lambda d: (2 * d).pow(2).sum(1)  # noqa: E731  zero gradient at delta = 0
    with pytest.raises(ModelError, match="random_start"):
        PGD(random_start=False)(obj, torch.zeros(2, 3), 1.0)
    # An objective with a gradient at 0 is fine without a random start.
    lin = lambda d: d.sum(1)  # noqa: E731
    delta = PGD(steps=3, random_start=False)(lin, torch.zeros(2, 4), 1.0)
    torch.testing.assert_close(delta, torch.full((2, 4), 0.5))


def test_objective_errors_are_typed() -> None:
    y = torch.zeros(2, 3)
    with pytest.raises(ModelError, match="differentiabl"):
        PGD(steps=2)(lambda d: d.detach().sum(1), y, 1.0)
    with pytest.raises(ModelError, match="differentiable in its input"):
        PGD(steps=2)(lambda d: torch.round(d * 0).sum(1) + (0 * d).sum(1), y, 1.0)
    with pytest.raises(ShapeError, match="objective"):
        PGD(steps=2)(lambda d: d.pow(2).sum(), y, 1.0)
    with pytest.raises(NonFiniteError, match="objective"):
        PGD(steps=2)(lambda d: d.sum(1) * float("nan"), y, 1.0)


def test_bad_arguments_raise_typed_errors() -> None:
    obj = lambda d: d.pow(2).sum(1)  # noqa: E731
    y = torch.zeros(2, 3)
    with pytest.raises(RangeError):
        PGD()(obj, y, -1.0)
    with pytest.raises(RangeError, match="ball"):
        PGD()(obj, y, 1.0, ball="l3")
    with pytest.raises(RangeError, match="CW"):
        CW()(obj, y, 1.0, ball="linf")
    with pytest.raises(RangeError, match="box"):
        PGD()(obj, y, 1.0, box=(1.0, 0.0))
    with pytest.raises(RangeError, match="inside box"):
        PGD()(obj, y - 1, 1.0, box=(0.0, 1.0))
    with pytest.raises(NonFiniteError, match="y"):
        PGD()(obj, torch.full((2, 3), float("nan")), 1.0)
    with pytest.raises(ShapeError, match="eps"):
        PGD()(obj, y, torch.ones(3))
    with pytest.raises(StochRobustTypeError):
        PGD()(obj, y, 1.0, generator=3)  # type: ignore[arg-type]
    with pytest.raises(RangeError):
        PGD(steps=0)
    with pytest.raises(StochRobustTypeError):
        PGD(steps=2.5)  # type: ignore[arg-type]
    with pytest.raises(RangeError):
        PGD(momentum=1.0)
    with pytest.raises(RangeError):
        AdamAscent(betas=(0.9, 1.0))
    with pytest.raises(RangeError):
        AdamAscent(lr=0)
    with pytest.raises(RangeError):
        CW(c=-1)
    with pytest.raises(RangeError):
        default_solver("l3")


def test_paper_presets_and_repr() -> None:
    nat, toy = AdamAscent.paper_natural_images(), AdamAscent.paper_toy()
    assert (nat.steps, nat.lr, nat.betas) == (5, 1.0, (0.9, 0.999))
    assert (toy.steps, toy.lr, toy.betas) == (4, 1e-4, (0.9, 0.999))
    assert "lr=0.0001" in repr(toy)
    assert default_solver("l1") == default_solver("l2") == Protocol("default")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_are_kept(dtype, device) -> None:
    y = torch.rand(3, 2, 4, dtype=dtype, device=device)
    obj = lambda d: torch.sin(3 * d).pow(2).flatten(1).sum(1)  # noqa: E731
    for solver in (PGD(steps=2), AdamAscent(steps=2), CW(steps=2)):
        best = solver.maximize(obj, y, 0.3, generator=torch.Generator().manual_seed(0))
        assert best.delta.dtype == dtype and best.delta.device == y.device
        assert best.value.shape == (3,)


def test_pgd_mirror_finds_the_larger_side_of_an_asymmetric_1d_objective() -> None:
    # f(d) = (d + 0.3 d²)²: both ends of [-1, 1] are local maxima, f(1) = 1.69 > f(-1) = 0.49.
    obj = lambda d: (d + 0.3 * d.pow(2)).pow(2).sum(1)  # noqa: E731
    y = torch.zeros(64, 1)
    gen = torch.Generator().manual_seed(0)
    plain = PGD(mirror=False).maximize(obj, y, 1.0, generator=gen).value
    assert bool((plain < 1.0).any())  # some random starts end on the smaller side
    best = PGD().maximize(obj, y, 1.0, generator=torch.Generator().manual_seed(0)).value
    torch.testing.assert_close(best, torch.full_like(best, 1.69))
