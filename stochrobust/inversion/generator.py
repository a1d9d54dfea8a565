"""A small layered generator that trains in seconds, for examples and tests.

No pre-trained GAN can be downloaded here, so :class:`LayeredGenerator` is a fully connected
generator ``G = G_m ∘ … ∘ G_1`` whose blocks are exposed as :attr:`LayeredGenerator.layers`
(the sequence :func:`~stochrobust.inversion.ilo` optimises layer by layer), and
:func:`fit_glo` pre-trains it on a set of images in seconds by Generative Latent
Optimization: the weights and one latent code per image are fitted jointly to reconstruct
the images, the codes kept on the sphere of radius ``sqrt(k)``.

References:
    Bojanowski, Joulin, Lopez-Paz, Szlam. *Optimizing the Latent Space of Generative
    Networks*. ICML 2018 (GLO, eq. 1; codes projected onto the unit sphere, here scaled by
    ``sqrt(k)`` to match ``N(0, I_k)``). [D21] §2 (``G = G_2 ∘ G_1``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from stochrobust._checks import check_generator, check_image, check_int, check_positive, describe
from stochrobust.errors import ShapeError, StochRobustTypeError
from stochrobust.inversion._descent import adam_direction

__all__ = ["LayeredGenerator", "fit_glo"]


class LayeredGenerator(nn.Module):
    """A fully connected generator ``z ↦ image`` made of blocks ILO can split between.

    Blocks: ``Linear → LeakyReLU(0.2)`` for every width, then ``Linear → Sigmoid → reshape``
    to ``image_shape`` (images in ``[0, 1]``). ``layers[i]`` maps the input of block ``i`` to
    the input of block ``i + 1``; their composition is :meth:`forward`.

    Args:
        latent_dim: entries ``k`` of the latent ``z``.
        widths: the hidden widths (the dimensions ``p`` of the intermediate layers).
        image_shape: the output shape ``(C, H, W)``.
        generator: random generator of the initial weights (``None``: torch's global RNG).

    Raises:
        StochRobustTypeError: ``widths`` or ``image_shape`` is not a sequence of integers.
        RangeError: a non-positive size.
        ShapeError: ``image_shape`` does not have 3 entries.

    Shape:
        - input ``(N, latent_dim)``; output ``(N, *image_shape)``.

    References:
        [D21] §2: a generator decomposed as ``G = G_2 ∘ G_1``.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> net = LayeredGenerator(4, (8, 16), (1, 4, 4), generator=g)
        >>> len(net.layers), net.latent_shape, net(torch.zeros(2, 4)).shape
        (3, (4,), torch.Size([2, 1, 4, 4]))
    """

    def __init__(
        self,
        latent_dim: int = 8,
        widths: Sequence[int] = (32, 64),
        image_shape: Sequence[int] = (1, 8, 8),
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        k = check_int(latent_dim, "latent_dim", minimum=1)
        dims = [k, *_ints(widths, "widths")]
        shape = _ints(image_shape, "image_shape")
        if len(shape) != 3:
            raise ShapeError(f"image_shape: expected (C, H, W), got {tuple(shape)}")
        check_generator(generator)
        linears = [nn.Linear(a, b) for a, b in itertools.pairwise([*dims, math.prod(shape)])]
        blocks = [nn.Sequential(lin, nn.LeakyReLU(0.2)) for lin in linears[:-1]]
        blocks.append(nn.Sequential(linears[-1], nn.Sigmoid(), nn.Unflatten(1, shape)))
        self.layers = nn.ModuleList(blocks)
        self.latent_shape: tuple[int, ...] = (k,)
        self.image_shape: tuple[int, ...] = tuple(shape)
        with torch.no_grad():  # the default init, drawn from `generator` for reproducibility
            for lin in linears:
                bound = 1.0 / math.sqrt(lin.in_features)
                for p in (lin.weight, lin.bias):
                    u = torch.rand(p.shape, generator=generator, dtype=p.dtype)
                    p.copy_((2 * u - 1) * bound * (math.sqrt(3) if p is lin.weight else 1.0))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Apply the blocks in order: ``G(z) = layers[-1](… layers[0](z))``.

        Args:
            z: latents ``(N, latent_dim)``.

        Returns:
            Images ``(N, *image_shape)`` in ``(0, 1)``.

        Examples:
            >>> LayeredGenerator(2, (3,), (1, 2, 2))(torch.zeros(5, 2)).shape
            torch.Size([5, 1, 2, 2])
        """
        for block in self.layers:
            z = block(z)
        return z


def _ints(value: object, name: str) -> list[int]:
    if isinstance(value, (int, str)) or not isinstance(value, Sequence):
        raise StochRobustTypeError(
            f"{name}: expected a sequence of integers, got {describe(value)}"
        )
    return [check_int(v, name, minimum=1) for v in value]


def fit_glo(
    net: LayeredGenerator,
    images: torch.Tensor,
    *,
    steps: int = 500,
    lr: float = 0.01,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pre-train ``net`` in place on ``images`` by Generative Latent Optimization.

    Minimises ``mean_i ‖net(z_i) − x_i‖²`` jointly over the weights and one code ``z_i``
    per image (full batch, Adam), the codes projected after every step onto the sphere
    ``‖z_i‖₂ = sqrt(k)`` where ``N(0, I_k)`` concentrates, so that random latents map to
    images near the data. ``net`` is left in train mode; the gradients are taken with
    ``torch.autograd.grad``, so no ``.grad`` is populated.

    Args:
        net: the generator to train (modified in place: that is the point).
        images: the training images ``(N, *net.image_shape)``, values in ``[0, 1]``.
        steps: Adam steps (``≥ 1``).
        lr: learning rate.
        generator: random generator of the initial codes.

    Returns:
        The fitted codes ``(N, k)`` (detached).

    Raises:
        StochRobustTypeError: ``net`` is not a :class:`LayeredGenerator`.
        ShapeError: ``images`` is not ``(N, *net.image_shape)``.
        RangeError: ``steps < 1`` or ``lr ≤ 0``.
        NonFiniteError: NaN or Inf in ``images``.

    Shape:
        - ``images``: ``(N, C, H, W)``; output: ``(N, k)``.

    References:
        Bojanowski et al. ICML 2018, eq. 1 (GLO).

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> net = LayeredGenerator(2, (16,), (1, 2, 2), generator=g)
        >>> x = torch.tensor([[0.9, 0.1, 0.1, 0.9], [0.1, 0.9, 0.9, 0.1]]).reshape(2, 1, 2, 2)
        >>> codes = fit_glo(net, x, steps=300, lr=0.05, generator=g)
        >>> bool(((net(codes) - x).abs().max() < 0.1).item())
        True
    """
    if not isinstance(net, LayeredGenerator):
        raise StochRobustTypeError(f"net: expected a LayeredGenerator, got {describe(net)}")
    x = check_image(images, "images")
    if tuple(x.shape[1:]) != net.image_shape:
        raise ShapeError(f"images: expected shape (N, *{net.image_shape}), got {tuple(x.shape)}")
    n_steps = check_int(steps, "steps", minimum=1)
    rate = check_positive(lr, "lr")
    check_generator(generator)
    k = net.latent_shape[0]
    dev = generator.device if generator is not None else x.device
    z = torch.randn((x.shape[0], k), generator=generator, dtype=x.dtype, device=dev).to(x.device)
    codes = _on_sphere(z).requires_grad_(True)
    trained = [codes, *(p for p in net.parameters() if p.requires_grad)]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in trained]
    net.train()
    for t in range(1, n_steps + 1):
        grads = torch.autograd.grad((net(codes) - x).pow(2).mean(), trained)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(trained, grads, strict=True)):
                step, m, v = adam_direction(g, *moments[i], t)
                moments[i] = (m, v)
                p.sub_(rate * step)
            codes.copy_(_on_sphere(codes))
    return codes.detach()


def _on_sphere(z: torch.Tensor) -> torch.Tensor:
    norm = z.norm(dim=1, keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)
    scaled: torch.Tensor = z * (math.sqrt(z.shape[1]) / norm)
    return scaled
