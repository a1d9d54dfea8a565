"""The fully connected estimator and critic of the toy GAN experiments ([O23] App. E.1).

Both networks are the MLP of [O23] Table 2: ``2 → 512 → 512 → 512 → 512 → 1`` with ReLU
after every hidden layer. The estimator's inputs are ``(y, z)``; it outputs only the
unknown coordinate ``X⁽²⁾`` and concatenates ``y`` back, so it is consistent by
construction. Its seed is ``z ~ U[0, 1]`` when stochastic and ``z = 0`` when deterministic
("For the deterministic estimators we simply fix Z = 0"). The critic scores points
``x ∈ R²`` and never sees ``y``.

References:
    [O23] App. E.1, Table 2 and Table 3.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
from torch import nn

from stochrobust._checks import check_generator, check_int
from stochrobust.errors import ShapeError
from stochrobust.estimator import Estimator
from stochrobust.toy.estimators import _check_y, uniform_seed_sampler

__all__ = ["ToyGAN", "ToyGenerator", "ToyMLP", "toy_critic", "toy_gan"]


class ToyMLP(nn.Module):
    """A ReLU multilayer perceptron ``in → width × depth → out`` ([O23] Table 2).

    Weights and biases are drawn like PyTorch's default ``nn.Linear`` initialisation
    (``U[−1/sqrt(fan_in), 1/sqrt(fan_in)]``) but from ``generator``, so that the same
    generator state gives the same network.

    Args:
        in_features: input size (2 in [O23]).
        width: hidden width (512 in [O23]).
        depth: number of hidden layers (4 in [O23]).
        out_features: output size (1 in [O23]).
        generator: random generator of the initial weights.

    Raises:
        StochRobustTypeError: a size is not an integer or ``generator`` not a generator.
        RangeError: a size is below 1.

    Shape:
        - input: ``(B, in_features)``; output: ``(B, out_features)``.

    References:
        [O23] App. E.1, Table 2.

    Examples:
        >>> net = ToyMLP(width=8, depth=2, generator=torch.Generator().manual_seed(0))
        >>> n_linear = sum(isinstance(m, nn.Linear) for m in net.modules())
        >>> net(torch.zeros(5, 2)).shape, n_linear
        (torch.Size([5, 1]), 3)
    """

    def __init__(
        self,
        in_features: int = 2,
        width: int = 512,
        depth: int = 4,
        out_features: int = 1,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        sizes = [
            check_int(in_features, "in_features", minimum=1),
            *[check_int(width, "width", minimum=1)] * check_int(depth, "depth", minimum=1),
            check_int(out_features, "out_features", minimum=1),
        ]
        check_generator(generator)
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            lin = nn.Linear(fan_in, fan_out)
            bound = 1.0 / math.sqrt(fan_in)
            with torch.no_grad():
                nn.init.uniform_(lin.weight, -bound, bound, generator=generator)
                nn.init.uniform_(lin.bias, -bound, bound, generator=generator)
            layers.append(lin)
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to a batch ``(B, in_features)``."""
        out: torch.Tensor = self.layers(x)
        return out


class ToyGenerator(nn.Module):
    """The consistent toy GAN estimator ``x̂ = (y, MLP(y, z))`` ([O23] App. E.1).

    Args:
        stochastic: the seed law the model is trained with: ``z ~ U[0, 1]`` when ``True``,
            ``z = 0`` when ``False``. It only decides what :meth:`estimator` returns; the
            forward pass accepts any ``z``.
        width: hidden width (512 in [O23]).
        depth: number of hidden layers (4 in [O23]).
        generator: random generator of the initial weights.

    Raises:
        RangeError: ``width`` or ``depth`` below 1.

    Shape:
        - ``y``, ``z``: ``(B, 1)``; output: ``(B, 2)``, its first column is ``y``.

    References:
        [O23] App. E.1: "the estimator outputs only one value (the estimate of X⁽²⁾) ... The
        output and the input are being concatenated".

    Examples:
        >>> net = ToyGenerator(stochastic=True, width=16, depth=2)
        >>> y = torch.rand(4, 1)
        >>> torch.equal(net(y, torch.rand(4, 1))[:, 0], y[:, 0])
        True
    """

    def __init__(
        self,
        stochastic: bool,
        *,
        width: int = 512,
        depth: int = 4,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.stochastic = bool(stochastic)
        self.mlp = ToyMLP(2, width, depth, 1, generator=generator)

    def forward(self, y: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Estimate ``(y, x̂⁽²⁾)`` from ``y`` and the seed ``z`` (``None`` means ``z = 0``)."""
        y = _check_y(y)
        if z is None:
            z = torch.zeros_like(y)
        elif z.shape != y.shape:
            raise ShapeError(f"z: expected shape {tuple(y.shape)} like y, got {tuple(z.shape)}")
        return torch.cat([y, self.mlp(torch.cat([y, z], dim=1))], dim=1)

    def estimator(self, *, max_batch: int | None = None, eval_mode: bool = True) -> Estimator:
        """This network as an :class:`~stochrobust.Estimator` with its seed law.

        Args:
            max_batch: passed to :class:`~stochrobust.Estimator`.
            eval_mode: passed to :class:`~stochrobust.Estimator` (the MLP has no
                BatchNorm or dropout, so the mode does not change its output).

        Returns:
            A stochastic estimator (seeds ``U[0, 1]``) if ``self.stochastic``, else a
            deterministic one (``z = 0``).

        Examples:
            >>> ToyGenerator(False, width=4, depth=1).estimator().is_stochastic
            False
        """
        if self.stochastic:
            return Estimator(
                self, seed_sampler=uniform_seed_sampler, max_batch=max_batch, eval_mode=eval_mode
            )
        return Estimator(self, max_batch=max_batch, eval_mode=eval_mode)


def toy_critic(
    *, width: int = 512, depth: int = 4, generator: torch.Generator | None = None
) -> ToyMLP:
    """The toy GAN critic: the MLP of [O23] Table 2 scoring points ``x ∈ R²``.

    Args:
        width: hidden width (512 in [O23]).
        depth: number of hidden layers (4 in [O23]).
        generator: random generator of the initial weights.

    Returns:
        A :class:`ToyMLP` ``2 → 1``.

    Raises:
        RangeError: ``width`` or ``depth`` below 1.

    References:
        [O23] App. E.1, Table 2; the critic does not see ``y`` (§6.1).

    Examples:
        >>> toy_critic(width=8, depth=1)(torch.zeros(3, 2)).shape
        torch.Size([3, 1])
    """
    return ToyMLP(2, width, depth, 1, generator=generator)


class ToyGAN(NamedTuple):
    """The three objects of a toy GAN experiment (see :func:`toy_gan`)."""

    estimator: Estimator
    """The estimator wrapping :attr:`net`, with its seed law."""
    net: ToyGenerator
    """The estimator network (train its parameters)."""
    critic: ToyMLP
    """The critic network."""


def toy_gan(
    stochastic: bool,
    *,
    width: int = 512,
    depth: int = 4,
    generator: torch.Generator | None = None,
) -> ToyGAN:
    """Build the estimator network, its :class:`~stochrobust.Estimator` and the critic.

    Args:
        stochastic: ``z ~ U[0, 1]`` (stochastic) or ``z = 0`` (deterministic).
        width: hidden width of both networks (512 in [O23]).
        depth: number of hidden layers of both networks (4 in [O23]).
        generator: random generator of the initial weights (estimator first, then critic).

    Returns:
        ``ToyGAN(estimator, net, critic)``.

    Raises:
        RangeError: ``width`` or ``depth`` below 1.

    References:
        [O23] App. E.1 (ErraticGAN / RobustGAN: deterministic; StoErraticGAN /
        StoRobustGAN: stochastic; "robust" ones add ``λ_R·L_R`` with ``λ_R = 0.1``).

    Examples:
        >>> gan = toy_gan(True, width=16, depth=2, generator=torch.Generator().manual_seed(0))
        >>> gan.estimator.is_stochastic, gan.estimator.sample(torch.zeros(2, 1), 3).shape
        (True, torch.Size([2, 3, 2]))
    """
    net = ToyGenerator(stochastic, width=width, depth=depth, generator=generator)
    critic = toy_critic(width=width, depth=depth, generator=generator)
    return ToyGAN(net.estimator(), net, critic)
