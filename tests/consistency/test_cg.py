from __future__ import annotations

import warnings

import pytest
import torch

from stochrobust.consistency._cg import conjugate_gradient, default_tol, normal_solve

F64 = torch.float64


def spd_batch(n: int, size: int, cond: float, gen: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, size, size, generator=gen, dtype=F64))
    eig = torch.logspace(0, torch.log10(torch.tensor(cond)).item(), size, dtype=F64)
    return q @ torch.diag_embed(eig.expand(n, size)) @ q.transpose(1, 2)


def test_each_row_solves_its_own_system() -> None:
    gen = torch.Generator().manual_seed(0)
    mats = spd_batch(4, 12, 1e3, gen)  # a different matrix per row
    b = torch.randn(4, 12, generator=gen, dtype=F64)
    b[2] = 0.0  # a zero right-hand side stays zero (no 0/0)
    q = conjugate_gradient(lambda v: (mats @ v.unsqueeze(-1)).squeeze(-1), b)
    torch.testing.assert_close(q, torch.linalg.solve(mats, b), rtol=1e-9, atol=1e-12)
    assert torch.equal(q[2], torch.zeros(12, dtype=F64))


def test_exact_preconditioner_converges_at_once_and_warning_otherwise() -> None:
    gen = torch.Generator().manual_seed(1)
    mats = spd_batch(2, 20, 1e3, gen)
    inv = torch.linalg.inv(mats)
    b = torch.randn(2, 20, generator=gen, dtype=F64)

    def matvec(v: torch.Tensor) -> torch.Tensor:
        return (mats @ v.unsqueeze(-1)).squeeze(-1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not converging within max_iter would warn
        q = conjugate_gradient(
            matvec, b, precond=lambda v: (inv @ v.unsqueeze(-1)).squeeze(-1), max_iter=1
        )
    torch.testing.assert_close(matvec(q), b, rtol=1e-11, atol=1e-11)
    with pytest.warns(RuntimeWarning, match="max_iter=3"):
        conjugate_gradient(matvec, b, max_iter=3)


def test_normal_solve_gradient_is_the_inverse_applied_to_the_gradient() -> None:
    gen = torch.Generator().manual_seed(2)
    M = torch.randn(5, 9, generator=gen, dtype=F64)
    r = torch.randn(3, 5, generator=gen, dtype=F64, requires_grad=True)
    q = normal_solve(r, lambda v: v @ M @ M.T)
    torch.testing.assert_close(q, torch.linalg.solve(M @ M.T, r.T).T, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: normal_solve(t, lambda v: v @ M @ M.T), (r,))


def test_default_tolerances() -> None:
    assert default_tol(F64) == 1e-12
    assert 1e-6 < default_tol(torch.float32) < 2e-6
