"""The UNet against a layer-by-layer reference in ``torch.nn.functional`` (issue #20, item 4).

The reference is written from the architecture's description ([O23] App. E.2.1, Fig. 7 and
the ``UNet`` docstring), not from its code: DoubleConv = (3×3 conv without bias → BatchNorm
→ ReLU) twice; down block ``i`` concatenates the seed ``Z_i`` (spatial size of the block's
input) to its input, max-pools by 2 and applies a DoubleConv; up blocks are a 2×2 stride-2
transposed convolution, concatenation with the skip (upsampled features first), DoubleConv;
the head is a 1×1 convolution with bias. Weights and BatchNorm statistics are random, so
every layer matters.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stochrobust.nets import UNet

F64 = torch.float64


def randomise(net: UNet, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                # Positive shifts keep most ReLUs alive, so no layer is a constant.
                m.bias.copy_(0.5 + 0.1 * torch.randn(m.num_features, generator=g))


def double_conv(x: torch.Tensor, block: nn.Sequential, training: bool) -> torch.Tensor:
    conv1, bn1, _, conv2, bn2, _ = block
    for conv, bn in ((conv1, bn1), (conv2, bn2)):
        x = F.conv2d(x, conv.weight, None, padding=1)
        x = F.batch_norm(
            x,
            None if training else bn.running_mean,
            None if training else bn.running_var,
            bn.weight,
            bn.bias,
            training=training,
            eps=bn.eps,
        )
        x = F.relu(x)
    return x


def reference(net: UNet, y: torch.Tensor, z: list[torch.Tensor], training: bool) -> torch.Tensor:
    h = double_conv(y, net.inc, training)
    skips = [h]
    for i in range(net.depth):
        h = F.max_pool2d(torch.cat([h, z[i]], dim=1), 2)
        h = double_conv(h, net.down[i][1], training)
        skips.append(h)
    skips.pop()
    for up, conv in zip(net.up, net.up_conv, strict=True):
        h = F.conv_transpose2d(h, up.weight, up.bias, stride=2)
        h = double_conv(torch.cat([h, skips.pop()], dim=1), conv, training)
    return F.conv2d(h, net.outc.weight, net.outc.bias)


def seeds(net: UNet, batch: int, h: int, w: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn((batch, net.seed_channels, h >> i, w >> i), generator=g, dtype=F64)
        for i in range(net.depth)
    ]


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(("depth", "seed_channels"), [(2, 1), (3, 2)])
def test_unet_matches_the_functional_reference(depth, seed_channels, training) -> None:
    net = UNet(in_channels=2, out_channels=3, s=3, depth=depth, seed_channels=seed_channels)
    net = net.double().train(training)
    randomise(net, depth)
    y = torch.rand(2, 2, 16, 8, generator=torch.Generator().manual_seed(1), dtype=F64)
    z = seeds(net, 2, 16, 8, 2)
    with torch.no_grad():
        out = net(y, z)
        ref = reference(net, y, z, training)
    assert out.shape == (2, 3, 16, 8)
    assert float(out.std(dim=(-2, -1)).min()) > 1e-3  # not a dead (constant) network
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)


def test_each_seed_level_enters_at_its_block_and_none_means_zero() -> None:
    """Changing ``Z_i`` alone moves the output as the reference says; ``z=None`` is ``Z = 0``."""
    net = UNet(in_channels=1, out_channels=1, s=4, depth=3).double().eval()
    randomise(net, 5)
    y = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(3), dtype=F64)
    zeros = [torch.zeros_like(t) for t in seeds(net, 1, 16, 16, 0)]
    with torch.no_grad():
        torch.testing.assert_close(net(y), reference(net, y, zeros, False), rtol=1e-10, atol=0)
        base = net(y, zeros)
        for level in range(net.depth):
            z = [t.clone() for t in zeros]
            z[level] = seeds(net, 1, 16, 16, 10 + level)[level]
            out = net(y, z)
            torch.testing.assert_close(out, reference(net, y, z, False), rtol=1e-10, atol=1e-12)
            assert float((out - base).abs().max()) > 1e-6, level


def test_estimator_seed_sampler_draws_one_standard_normal_seed_per_level() -> None:
    net = UNet(in_channels=1, out_channels=1, s=2, depth=2, seed_channels=2).double().eval()
    randomise(net, 7)
    y = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(4), dtype=F64)
    g = torch.Generator().manual_seed(9)
    z = net.seed_sampler(3, y, g)
    g = torch.Generator().manual_seed(9)
    expected = [torch.randn((3, 2, 8 >> i, 8 >> i), generator=g, dtype=F64) for i in range(2)]
    for got, want in zip(z, expected, strict=True):
        assert torch.equal(got, want)
    est = net.estimator()
    samples = est.forward_seeds(
        y, est.sample_seeds(y, 4, generator=torch.Generator().manual_seed(5))
    )
    zs = est.sample_seeds(y, 4, generator=torch.Generator().manual_seed(5))
    assert isinstance(zs, tuple)
    with torch.no_grad():
        for k in range(4):
            ref = reference(net, y, [t[:, k] for t in zs], False)
            torch.testing.assert_close(samples[:, k], ref, rtol=1e-10, atol=1e-12)
    assert not net.estimator(stochastic=False).is_stochastic
