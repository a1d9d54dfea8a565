"""``stochrobust audit``: measure a model file's robustness without writing code.

- :func:`load_model` — ``package.module:factory`` or a TorchScript file;
- :func:`load_inputs` — ``.pt`` / ``.npy`` tensors (never unpickled) or PNG folders;
- :func:`run_audit` → :class:`AuditReport` — per-input eq. 6 (squared) and its root,
  eq. 9, AI-PSNR, Lipschitz lower bound and diversity, as a table or JSON.

The command line lives in :mod:`stochrobust.audit.command`.

References:
    [O23] eqs. 2, 6, 7, 9; [O24] (Lipschitz lower bound).
"""

from stochrobust.audit.loading import load_inputs, load_model
from stochrobust.audit.report import AuditReport, run_audit

__all__ = ["AuditReport", "load_inputs", "load_model", "run_audit"]
