"""Adapters to other restoration libraries (optional dependencies, imported lazily).

- :mod:`stochrobust.interop.deepinv`: deepinv reconstructors and posterior samplers as
  :class:`~stochrobust.Estimator` objects; the operator adapters are
  :func:`stochrobust.consistency.from_deepinv` and :func:`stochrobust.consistency.to_deepinv`.
"""
