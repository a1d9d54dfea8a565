"""``stochrobust audit``: measure a model file's robustness without writing code.

- :func:`load_model` — a ``torch.export`` (``.pt2``) or TorchScript archive,
  ``package.module:factory`` or ``path/to/file.py:factory`` (these two execute the
  module's code), with :func:`load_weights` for ``state_dict`` checkpoints;
- :func:`load_inputs` — ``.pt`` / ``.npy`` tensors (never unpickled), images or folders;
- :func:`run_audit` → :class:`AuditReport` — per-input eq. 6 (squared) and its root,
  eq. 9, AI-PSNR, Lipschitz lower bound and diversity, as a table or JSON;
- :func:`write_report` — the HTML page with the worst perturbations.

The command line lives in :mod:`stochrobust.audit.command`.

References:
    [O23] eqs. 2, 6, 7, 9; [O24] (Lipschitz lower bound).
"""

from stochrobust.audit.html_report import write_report
from stochrobust.audit.inputs import load_inputs
from stochrobust.audit.loading import load_model, load_weights, model_source
from stochrobust.audit.report import AuditReport
from stochrobust.audit.run import run_audit

__all__ = [
    "AuditReport",
    "load_inputs",
    "load_model",
    "load_weights",
    "model_source",
    "run_audit",
    "write_report",
]
