"""Cost of the model-state guard: entries per ``sensitivity_at`` call and µs per call.

Two module trees: a small MLP (5 modules) and a large one (601 modules: 150 blocks of
``Linear(8, 8)``, ``BatchNorm1d``, ``ReLU``, ``Dropout``), inputs ``(4, 8)``, the default
PGD with 10 steps. Measured side by side in this run:

- ``entries_per_call``: full guard entries per ``sensitivity_at`` call (the counter of
  ``stochrobust._guard``) against the 0.1 pattern, which entered the guard once for the
  clean pass, once for the attack and once per model forward (counted here as the number
  of forwards + 2);
- ``entry_us``: one full entry + exit of :func:`stochrobust.frozen` on the tree, and
  ``nested_entry_us``: an inner entry while an outer one is active (a no-op);
- ``call_ms``: one ``sensitivity_at`` call with the once-per-call guard, and the same call
  with the 0.1 per-forward pattern re-created around every forward (a walk over all
  modules and parameters that saves and restores the flags, as 0.1's ``frozen`` did), and
  their ratio ``per_forward_over_once``.

``--quick``: 3 timed rounds instead of 15.
"""

from __future__ import annotations

import torch
from _common import interleaved, row
from torch import nn

from stochrobust import _guard, frozen
from stochrobust.sensitivity import PGD, sensitivity_at

NAME = "guard_overhead"


def tree(blocks: int) -> nn.Module:
    """``blocks`` × (Linear, BatchNorm1d, ReLU, Dropout) in a Sequential, in train mode."""
    layers: list[nn.Module] = []
    for _ in range(blocks):
        layers += [nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.1)]
    return nn.Sequential(*layers).train()


def old_frozen_walk(model: nn.Module) -> None:
    """The per-entry work of 0.1's ``frozen``: save, set and restore every flag."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for m, mode in modes:
        if mode:
            m.training = False
    for m, mode in modes:
        if m.training != mode:
            m.training = mode
    for p, req in flags:
        if p.requires_grad != req:
            p.requires_grad_(req)


def measure(label: str, blocks: int, quick: bool, device: str) -> list[dict]:
    """The rows of one tree."""
    y = torch.rand(4, 8, device=device)
    solver = PGD(steps=10)
    net = tree(blocks).to(device)
    n_modules = len(list(net.modules()))
    forwards = [0]

    def model(v: torch.Tensor) -> torch.Tensor:
        forwards[0] += 1
        return v + net(v)  # residual: a 600-layer stack alone has a vanishing gradient

    def per_forward(v: torch.Tensor) -> torch.Tensor:
        old_frozen_walk(net)
        return v + net(v)

    def once() -> object:
        return sensitivity_at(model, y, 0.1, solver=solver, data_range=None)

    def old() -> object:
        old_frozen_walk(net)  # the clean pass's and the attack's entries of 0.1
        old_frozen_walk(net)
        return sensitivity_at(per_forward, y, 0.1, solver=solver, data_range=None)

    start = _guard.ENTRIES[0]
    once()
    entries, old_entries = _guard.ENTRIES[0] - start, forwards[0] + 2

    def entry() -> None:
        with frozen(net):
            pass

    def nested() -> None:
        with frozen(net):
            for _ in range(100):
                with frozen(net):
                    pass

    reps = 3 if quick else 15
    guard_t = interleaved({"entry": entry, "nested": nested}, reps * 20, device)
    call_t = interleaved({"once": once, "old": old}, reps, device)
    tag = f"{label} ({n_modules} modules)"
    return [
        row(NAME, f"{tag} entries_per_call", entries, target=1),
        row(NAME, f"{tag} entries_per_call 0.1 pattern", old_entries),
        row(NAME, f"{tag} entry_us", guard_t["entry"] * 1e6),
        row(NAME, f"{tag} nested_entry_us", (guard_t["nested"] - guard_t["entry"]) * 1e4),
        row(NAME, f"{tag} call_ms once per call", call_t["once"] * 1e3),
        row(NAME, f"{tag} call_ms per forward (0.1)", call_t["old"] * 1e3),
        row(NAME, f"{tag} per_forward_over_once", call_t["old"] / call_t["once"]),
    ]


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Rows for the small and the large tree (see the module docstring)."""
    return measure("small", 1, quick, device) + measure("large", 150, quick, device)


if __name__ == "__main__":
    for r in run(quick=True):
        print(f"{r['metric']:<48} {r['value']:10.4g}")
