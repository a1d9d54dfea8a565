"""The 2-D toy restoration problems of [O23] and their estimators.

- :mod:`stochrobust.toy.data` — samplers of the disk (§4), the ellipse ring (App. B.1) and
  the square (App. C), each returning ``(x, y)`` with ``y = x⁽¹⁾``;
- :mod:`stochrobust.toy.estimators` — the hand-crafted consistent estimators ``X̂_α``
  (disk) and ``G_f`` (square zigzag), and the disk's posterior sampler;
- :mod:`stochrobust.toy.networks` — the MLP estimator and critic of the toy GANs
  (App. E.1);
- :mod:`stochrobust.toy.plots` — figures in the style of Fig. 3 (matplotlib is imported
  only when a figure is drawn).

References:
    [O23] Ohayon, Adrai, Elad, Michaeli. Reasons for the Superiority of Stochastic
    Estimators over Deterministic Ones. ICML 2023.
"""

from stochrobust.toy.data import (
    ELLIPSE_INNER,
    ELLIPSE_OUTER,
    ellipse_ring_area,
    sample_disk,
    sample_ellipse_ring,
    sample_square,
)
from stochrobust.toy.estimators import (
    SQRT_FLOOR,
    DiskPosterior,
    SineDisk,
    Zigzag,
    disk_half_width,
    disk_posterior,
    disk_posterior_estimator,
    sine_disk,
    sine_disk_estimator,
    uniform_seed_sampler,
    zigzag,
    zigzag_estimator,
)
from stochrobust.toy.networks import ToyGAN, ToyGenerator, ToyMLP, toy_critic, toy_gan
from stochrobust.toy.plots import OutputColumn, plot_outputs, plot_sensitivity_recall

__all__ = [
    "ELLIPSE_INNER",
    "ELLIPSE_OUTER",
    "SQRT_FLOOR",
    "DiskPosterior",
    "OutputColumn",
    "SineDisk",
    "ToyGAN",
    "ToyGenerator",
    "ToyMLP",
    "Zigzag",
    "disk_half_width",
    "disk_posterior",
    "disk_posterior_estimator",
    "ellipse_ring_area",
    "plot_outputs",
    "plot_sensitivity_recall",
    "sample_disk",
    "sample_ellipse_ring",
    "sample_square",
    "sine_disk",
    "sine_disk_estimator",
    "toy_critic",
    "toy_gan",
    "uniform_seed_sampler",
    "zigzag",
    "zigzag_estimator",
]
