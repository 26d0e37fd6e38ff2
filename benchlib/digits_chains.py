"""What the one-shot benches share: the chain space they search on the digits images, and how every network
of it is trained alone."""

from __future__ import annotations

from typing import Any

#: Each architecture trained alone (and the supernet, at its own rate): SGD with momentum, cosine schedule.
TRAINING: dict[str, Any] = {"lr": 0.05, "optimizer": "sgd", "momentum": 0.9, "lr_schedule": "cosine"}


def chain_space(channels: int) -> dict[str, Any]:
    """Chains of 1 to 4 layers, each one of six operations, 1, 2 or 4 times `channels` filters, stride 1 or 2."""
    return {"chain": {"min_layers": 1, "max_layers": 4, "strides": [1, 2],
                      "filters": [channels, 2 * channels, 4 * channels],
                      "operations": ["conv_3x3", "conv_5x5", "sep_conv_3x3", "max_pool_3x3", "avg_pool_3x3",
                                     "identity"]}}
