"""Reference architectures of the papers, for examples, benchmarks and tests.

:class:`UNet` follows the estimator of [O23] App. E.2.1 (Fig. 7): a U-Net (Ronneberger et
al. 2015) of DoubleConv blocks (3×3 conv → BatchNorm → ReLU, twice) with one random seed
``Z_i`` per down block, reshaped to the spatial size of that block's input and concatenated
on the channel dimension; the deterministic estimators of the paper use ``Z = 0``. Its only
hyper-parameter is the width ``s`` (24 for CelebA, 32 for ImageNet in the paper).

References:
    [O23] App. E.2.1, Fig. 7 (U-Net estimator with seeds ``Z = (Z1, Z2, Z3, Z4)``).
"""

from __future__ import annotations

import torch
from torch import nn

from stochrobust._checks import check_image, check_int
from stochrobust._seeds import draw
from stochrobust.errors import ShapeError
from stochrobust.estimator import Estimator

__all__ = ["UNet"]


class _DoubleConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """The U-Net estimator of [O23] App. E.2.1: ``G(y, z)`` with one seed per down block.

    ``forward(y, z)`` takes ``z = (Z_1, ..., Z_depth)`` with ``Z_i`` of shape
    ``(N, seed_channels, H / 2^(i-1), W / 2^(i-1))`` (the spatial size of the input of down
    block ``i``); ``z = None`` means ``Z = 0``, the paper's deterministic estimator. Widths
    double at every down block: ``s, 2s, ..., 2^depth·s``. Up blocks use a transposed
    convolution, concatenate the skip connection and apply a DoubleConv; the last layer is a
    1×1 convolution without activation.

    Args:
        in_channels: channels of ``y``.
        out_channels: channels of the output.
        s: base width (the paper's only hyper-parameter; 24 for CelebA).
        depth: number of down blocks (4 in the paper); ``H`` and ``W`` must be divisible by
            ``2^depth``.
        seed_channels: channels of each seed ``Z_i`` (1: a vector reshaped to the block's
            spatial size).

    Raises:
        RangeError: a non-positive size argument.

    Shape:
        - ``y``: ``(N, in_channels, H, W)``; output: ``(N, out_channels, H, W)``.

    References:
        [O23] App. E.2.1, Fig. 7.

    Examples:
        >>> net = UNet(s=4, depth=2)
        >>> est = net.estimator()                        # stochastic: Z_i ~ N(0, I)
        >>> est.sample(torch.rand(2, 3, 16, 16), 5).shape
        torch.Size([2, 5, 3, 16, 16])
        >>> net.estimator(stochastic=False).is_stochastic  # Z = 0
        False
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        s: int = 24,
        depth: int = 4,
        seed_channels: int = 1,
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        self.out_channels = check_int(out_channels, "out_channels", minimum=1)
        self.s = check_int(s, "s", minimum=1)
        self.depth = check_int(depth, "depth", minimum=1)
        self.seed_channels = check_int(seed_channels, "seed_channels", minimum=1)
        widths = [s * 2**i for i in range(depth + 1)]
        self.inc = _DoubleConv(in_channels, widths[0])
        self.down = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), _DoubleConv(widths[i] + seed_channels, widths[i + 1]))
            for i in range(depth)
        )
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
            for i in reversed(range(depth))
        )
        self.up_conv = nn.ModuleList(
            _DoubleConv(2 * widths[i], widths[i]) for i in reversed(range(depth))
        )
        self.outc = nn.Conv2d(widths[0], out_channels, 1)

    def seed_shapes(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """Per-sample shapes of the seeds ``Z_1..Z_depth`` for an ``height × width`` input.

        Examples:
            >>> for shape in UNet(s=4, depth=2).seed_shapes(16, 16):
            ...     print(shape)
            (1, 16, 16)
            (1, 8, 8)
        """
        return [(self.seed_channels, height >> i, width >> i) for i in range(self.depth)]

    def seed_sampler(
        self, batch: int, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Draw ``batch`` seeds ``Z_i ~ N(0, I)`` for inputs shaped like ``y``.

        The signature is that of :class:`~stochrobust.Estimator`'s ``seed_sampler``; the
        draw happens on the generator's device and is moved to ``y``'s.

        Examples:
            >>> net = UNet(s=4, depth=2)
            >>> for z in net.seed_sampler(3, torch.zeros(1, 3, 8, 8)):
            ...     print(tuple(z.shape))
            (3, 1, 8, 8)
            (3, 1, 4, 4)
        """
        return tuple(
            draw(torch.randn, (batch, *shape), generator=generator, dtype=y.dtype, device=y.device)
            for shape in self.seed_shapes(y.shape[-2], y.shape[-1])
        )

    def estimator(
        self, stochastic: bool = True, max_batch: int | None = None, eval_mode: bool = True
    ) -> Estimator:
        """This network as an :class:`~stochrobust.Estimator` (``Z ~ N(0, I)`` or ``Z = 0``).

        Examples:
            >>> UNet(s=4, depth=2).estimator().is_stochastic
            True
        """
        return Estimator(
            self,
            seed_sampler=self.seed_sampler if stochastic else None,
            max_batch=max_batch,
            eval_mode=eval_mode,
        )

    def forward(
        self, y: torch.Tensor, z: tuple[torch.Tensor, ...] | list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Restore ``y`` with seeds ``z`` (``None``: ``Z = 0``)."""
        check_image(y, "y", finite=False)
        h, w = y.shape[-2:]
        if h % 2**self.depth or w % 2**self.depth:
            raise ShapeError(
                f"y: expected H and W divisible by 2^depth = {2**self.depth}, got {h}×{w}"
            )
        shapes = self.seed_shapes(h, w)
        if z is not None:
            if len(z) != self.depth or any(
                tuple(zi.shape) != (y.shape[0], *shape)
                for zi, shape in zip(z, shapes, strict=False)
            ):
                expected = [(y.shape[0], *shape) for shape in shapes]
                got = [tuple(zi.shape) for zi in z]
                raise ShapeError(f"z: expected seeds of shapes {expected}, got {got}")
        h_cur = self.inc(y)
        skips = [h_cur]
        for i, block in enumerate(self.down):
            zi = z[i] if z is not None else h_cur.new_zeros((y.shape[0], *shapes[i]))
            h_cur = block(torch.cat([h_cur, zi], dim=1))
            skips.append(h_cur)
        skips.pop()
        for up, conv in zip(self.up, self.up_conv, strict=True):
            h_cur = conv(torch.cat([up(h_cur), skips.pop()], dim=1))
        out: torch.Tensor = self.outc(h_cur)
        return out
