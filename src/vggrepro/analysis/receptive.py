"""Receptive fields: the analytic rule, an autograd measurement, and 3x3 stacks vs large filters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from vggrepro.analysis.cost import grow, layer_table
from vggrepro.arch.configs import VGGSpec


def receptive_fields(spec: VGGSpec) -> pd.DataFrame:
    """Analytic receptive field (``rf``) and ``jump`` of every layer, from ``cost.layer_table``."""
    return layer_table(spec)[["part", "index", "name", "layer", "kind", "out_shape", "rf", "jump"]]


def probe(features: nn.Sequential) -> nn.Sequential:
    """A one-channel, linear twin of ``features`` with the same geometry and indices.

    Each conv becomes a 1-in, 1-out conv with the same kernel, stride and padding and all weights
    one; each max-pool an average pool of the same kernel and stride; everything else (ReLU, BN,
    LRN, dropout) the identity.
    """
    layers: list[nn.Module] = []
    for m in features:
        if isinstance(m, nn.Conv2d):
            conv = nn.Conv2d(1, 1, m.kernel_size, m.stride, m.padding, bias=False)
            nn.init.ones_(conv.weight)
            layers.append(conv)
        elif isinstance(m, nn.MaxPool2d):
            layers.append(nn.AvgPool2d(m.kernel_size, m.stride, m.padding))
        else:
            layers.append(nn.Identity())
    return nn.Sequential(*layers).double().requires_grad_(False)


@dataclass(frozen=True)
class EmpiricalField:
    """The measured support of one unit's gradient on the input."""

    index: int  # layer index in ``features``
    height: int  # rows of the input with a non-zero gradient
    width: int  # columns of the input with a non-zero gradient
    input_size: int  # side of the input it was measured on
    grad: np.ndarray  # d(unit) / d(input), input_size x input_size


def empirical_receptive_field(
    features: nn.Sequential, index: int, start_size: int = 32
) -> EmpiricalField:
    """Measure the receptive field of the centre unit of layer ``index`` with autograd.

    The gradient of one unit with respect to the input is non-zero exactly on the pixels that can
    influence it, but in the real net a dead ReLU or max-pool's single winner zeroes parts of that
    gradient and the support comes out too small. So the measurement runs on ``probe(features)``:
    the same kernels, strides and paddings, all weights positive, average instead of max pooling,
    no non-linearity, so every path from a pixel to the unit carries a positive weight. The input
    side starts at ``start_size`` (32 lets VGG's five pools run) and doubles until the support
    touches no border, so the field is not clipped. The gradient is not uniform: central pixels
    reach the unit by more paths. The probe is tiny, so it runs on one thread.
    """
    net = probe(features)[: index + 1]
    size, threads = start_size, torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        while True:
            x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
            y = net(x)
            h, w = y.shape[-2:]
            (grad,) = torch.autograd.grad(y[0, 0, h // 2, w // 2], x)
            g = grad[0, 0].numpy()
            rows, cols = np.flatnonzero(g.any(axis=1)), np.flatnonzero(g.any(axis=0))
            last = size - 1
            if rows[0] > 0 and cols[0] > 0 and rows[-1] < last and cols[-1] < last:
                height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
                return EmpiricalField(index, int(height), int(width), size, g)
            size *= 2
    finally:
        torch.set_num_threads(threads)


def compare_fields(spec: VGGSpec, features: nn.Sequential) -> pd.DataFrame:
    """Analytic vs measured receptive field for every conv and max-pool layer of ``features``.

    ``features`` is the ``features`` of a model built from ``spec`` (its geometry is measured).
    """
    table = receptive_fields(spec)
    table = table[(table["part"] == "features") & table["kind"].isin(["conv", "maxpool"])].copy()
    measured, size = [], 32
    for i in table["index"]:  # fields only grow, so start where the layer before ended
        measured.append(empirical_receptive_field(features, i, start_size=size))
        size = measured[-1].input_size
    table["empirical_height"] = [f.height for f in measured]
    table["empirical_width"] = [f.width for f in measured]
    table["match"] = (table["rf"] == table["empirical_height"]) & (
        table["rf"] == table["empirical_width"]
    )
    return table.reset_index(drop=True)


def stack_vs_single(n: int, channels: int) -> dict[str, int | float]:
    """n stacked 3x3 convs (C in, C out, stride 1) against one (2n+1)x(2n+1) conv, bias-free.

    Receptive fields are composed layer by layer with ``grow``; weights are kernel area times
    C^2 per layer; at stride 1 with "same" padding every weight is used once per output position,
    so MACs per position equal the weights. Each conv is followed by one ReLU.
    """
    rf_stack, jump = 1, 1
    for _ in range(n):
        rf_stack, jump = grow(rf_stack, jump, 3, 1)
    k = 2 * n + 1
    rf_single, _ = grow(1, 1, k, 1)
    weights_stack = n * 3 * 3 * channels * channels
    weights_single = k * k * channels * channels
    return {
        "n": n,
        "channels": channels,
        "single_kernel": k,
        "rf_stack": rf_stack,
        "rf_single": rf_single,
        "weights_stack": weights_stack,
        "weights_single": weights_single,
        "weights_per_pair_stack": weights_stack // channels**2,
        "weights_per_pair_single": weights_single // channels**2,
        "macs_per_position_stack": weights_stack,
        "macs_per_position_single": weights_single,
        "weight_ratio": weights_stack / weights_single,
        "relus_stack": n,
        "relus_single": 1,
    }


def stack_table(ns: Iterable[int] = range(1, 5), channels: int = 512) -> pd.DataFrame:
    """``stack_vs_single`` for several depths n, one row each."""
    return pd.DataFrame([stack_vs_single(n, channels) for n in ns]).set_index("n")
