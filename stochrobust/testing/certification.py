"""Certification assertion for median-smoothed models: certified fraction and interval width.

References:
    [C24] Chaouai, Tamaazousti. Universal robustness via median randomized smoothing for
    real-world super resolution. 2024, §4, Lemma 4.1.
    [Ch20] Chiang et al. Detection as regression: certified object detection with median
    smoothing. NeurIPS 2020.
"""

from __future__ import annotations

import warnings

import torch

from stochrobust._checks import check_generator, check_number, describe
from stochrobust.errors import StochRobustTypeError
from stochrobust.smoothing.certify import CertificationWarning, SmoothingCertificate
from stochrobust.smoothing.median import MedianSmoothing
from stochrobust.testing import _report as rp
from stochrobust.testing._report import HIDE_ASSERTION_FRAMES as _HIDE_ASSERTION_FRAMES
from stochrobust.testing.assertions import default_generator

__all__ = ["assert_certified"]


def _certificate(
    smoothed: object,
    x: torch.Tensor | None,
    eps: float | None,
    n_samples: int,
    alpha: float,
    simultaneous: bool,
    generator: torch.Generator | None,
) -> SmoothingCertificate:
    if isinstance(smoothed, SmoothingCertificate):
        if x is not None or eps is not None:
            raise StochRobustTypeError(
                "x, eps: expected None when a SmoothingCertificate is given (it holds its "
                f"radius, eps = {smoothed.eps:g}), got x={describe(x)}, eps={eps!r}"
            )
        return smoothed
    if not isinstance(smoothed, MedianSmoothing):
        raise StochRobustTypeError(
            "smoothed_model_or_certificate: expected a stochrobust.smoothing.MedianSmoothing "
            "(wrap your model: MedianSmoothing(model, sigma=...)) or a SmoothingCertificate, "
            f"got {describe(smoothed)}"
        )
    if x is None or eps is None:
        raise StochRobustTypeError(
            "x, eps: expected the inputs and the radius to certify a MedianSmoothing model, "
            f"got x={describe(x)}, eps={eps!r}"
        )
    check_generator(generator)
    gen = default_generator() if generator is None else generator
    with warnings.catch_warnings():
        # an uncertifiable side is reported in the assertion message instead
        warnings.simplefilter("ignore", CertificationWarning)
        return smoothed.certify(
            x, eps, n_samples=n_samples, alpha=alpha, simultaneous=simultaneous, generator=gen
        )


def assert_certified(
    smoothed_model_or_certificate: MedianSmoothing | SmoothingCertificate,
    x: torch.Tensor | None = None,
    eps: float | None = None,
    *,
    min_fraction: float = 1.0,
    max_width: float | None = None,
    max_mean_width: float | None = None,
    n_samples: int = 2000,
    alpha: float = 1e-3,
    simultaneous: bool = False,
    generator: torch.Generator | None = None,
) -> SmoothingCertificate:
    """Assert that a median-smoothed model is certified at ``x`` for ``‖δ‖₂ < eps``.

    Certifies with :meth:`~stochrobust.smoothing.MedianSmoothing.certify` (or checks a
    :class:`~stochrobust.smoothing.SmoothingCertificate` you computed) and checks that

    - the fraction of output coordinates with both sides certified is ``≥ min_fraction``
      (over all inputs and coordinates);
    - the largest certified interval ``upper − lower`` is ``≤ max_width`` (if given);
    - the mean certified interval width is ``≤ max_mean_width`` (if given).

    Widths are measured over the certified coordinates; with none certified they are
    ``inf``. A side that cannot be certified with ``n_samples`` is not a warning here but
    part of the failure message.

    Args:
        smoothed_model_or_certificate: a :class:`~stochrobust.smoothing.MedianSmoothing`
            model, or a certificate (then ``x`` and ``eps`` must be ``None``).
        x: inputs ``(B, ...)`` to certify.
        eps: the L2 radius (``≥ 0``).
        min_fraction: lowest acceptable certified fraction in ``[0, 1]``.
        max_width: bound on the largest certified interval width.
        max_mean_width: bound on the mean certified interval width.
        n_samples: certification samples per input (Chiang et al.: 2000).
        alpha: failure probability per coordinate and side (or joint, ``simultaneous``).
        simultaneous: joint guarantee over all coordinates and both sides (union bound).
        generator: random generator for the certification noise; ``None`` uses the
            (deterministic) session default.

    Returns:
        The certificate.

    Raises:
        AssertionError: a check fails; the message shows the worst inputs.
        StochRobustTypeError: not a MedianSmoothing / certificate, missing ``x``/``eps``.
        RangeError, NonFiniteError, ModelError: as
            :func:`~stochrobust.smoothing.certify_percentile`.

    Shape:
        - ``x``: ``(B, *in_shape)``; certificate tensors: ``(B, *out_shape)``.

    References:
        [C24] Lemma 4.1; [Ch20] §4.

    Examples:
        >>> from stochrobust.smoothing import MedianSmoothing
        >>> smooth = MedianSmoothing(torch.nn.Identity(), sigma=0.25)
        >>> cert = assert_certified(smooth, torch.rand(2, 1, 4, 4), eps=0.1, n_samples=500,
        ...                         max_width=0.5)
        >>> cert.indices, bool(cert.certified.all())
        ((140, 361), True)
    """
    __tracebackhide__ = _HIDE_ASSERTION_FRAMES
    frac_min = check_number(min_fraction, "min_fraction", low=0.0, high=1.0)
    w_max = None if max_width is None else check_number(max_width, "max_width", low=0.0)
    w_mean = (
        None if max_mean_width is None else check_number(max_mean_width, "max_mean_width", low=0.0)
    )
    cert = _certificate(
        smoothed_model_or_certificate, x, eps, n_samples, alpha, simultaneous, generator
    )
    ok = cert.certified.flatten(1)
    width = torch.where(ok, (cert.upper - cert.lower).flatten(1), torch.nan).double()
    fraction = float(ok.double().mean())
    per_frac = ok.double().mean(dim=1)
    per_max = torch.where(ok.any(dim=1), width.nan_to_num(-torch.inf).amax(dim=1), torch.inf)
    per_mean = torch.where(ok.any(dim=1), width.nanmean(dim=1), torch.inf)
    mean_w = float(width.nanmean()) if bool(ok.any()) else float("inf")
    max_w = float(per_max.max())
    problems = []
    if fraction < frac_min:
        problems.append(f"certified fraction {rp.num(fraction)} < min_fraction {rp.num(frac_min)}")
    if w_max is not None and max_w > w_max:
        problems.append(f"max interval width {rp.num(max_w)} > max_width {rp.num(w_max)}")
    if w_mean is not None and mean_w > w_mean:
        problems.append(f"mean interval width {rp.num(mean_w)} > max_mean_width {rp.num(w_mean)}")
    if not problems:
        return cert
    # worst inputs: least certified first, then widest
    by_width = torch.argsort(per_max, descending=True, stable=True)
    order = by_width[torch.argsort(per_frac[by_width], stable=True)].tolist()
    rows = [
        f"    [{i}] {rp.num(float(per_frac[i]))} | {rp.num(float(per_mean[i]))} | "
        f"{rp.num(float(per_max[i]))}"
        for i in order[: rp.SHOWN]
    ]
    k_low, k_up = cert.indices
    lines = [
        "stochrobust: median-smoothing certificate fails: " + "; ".join(problems),
        "  worst inputs:",
        "    [index] certified fraction | mean width | max width",
        *rows,
        *rp.more_line(len(order), min(len(order), rp.SHOWN), "inputs"),
        f"  eps = {rp.num(cert.eps)} (l2 ball, strict), sigma = {rp.num(cert.sigma)}, "
        f"n = {cert.n_samples}, alpha = {rp.num(cert.alpha_per_side)} per coordinate and side "
        f"(simultaneous={cert.simultaneous}), order statistics (k_low, k_up) = ({k_low}, {k_up})",
        *(f"  not certifiable: {note}" for note in cert.warnings),
    ]
    raise AssertionError("\n".join(lines))
