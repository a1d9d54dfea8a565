"""Real photographs for the examples: the two pictures scikit-learn ships, cut into tiles.

Not an example itself (the underscore keeps the examples smoke test from running it).
"""

from __future__ import annotations

import numpy as np
import torch


def load_photos() -> torch.Tensor:
    """The two photos of scikit-learn (china, flower), ``(2, 3, 427, 640)`` in ``[0, 1]``."""
    from sklearn.datasets import load_sample_images

    images = np.stack(load_sample_images().images)
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)


def split_tiles(photos: torch.Tensor, tile: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``tile × tile`` tiles of every photo; ``(row + col) % 3 == 0`` is held out.

    The held-out tiles are spread over both photos, so evaluation sees the same kinds of
    texture as training but never the same pixels. Returns ``(train, held_out)``.
    """
    rows, cols = photos.shape[-2] // tile, photos.shape[-1] // tile
    train, held = [], []
    for photo in photos:
        for r in range(rows):
            for c in range(cols):
                t = photo[:, r * tile : (r + 1) * tile, c * tile : (c + 1) * tile]
                (held if (r + c) % 3 == 0 else train).append(t)
    return torch.stack(train), torch.stack(held)
