"""Worst-case sensitivity and robustness of restoration estimators ([O23] eqs. 2–9).

Projections onto norm balls live in :mod:`stochrobust.sensitivity.projections`.
"""

from stochrobust.sensitivity.projections import (
    NORMS,
    clip_box,
    project,
    project_l1,
    project_l2,
    project_linf,
)

__all__ = ["NORMS", "clip_box", "project", "project_l1", "project_l2", "project_linf"]
