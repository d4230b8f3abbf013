"""Figures for the book."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Patch, Rectangle

from vggrepro.analysis.summary import HEAD, walk
from vggrepro.arch.configs import VGGSpec

COLOURS = {
    "conv3": "#4c72b0",
    "conv1": "#8172b2",
    "conv5": "#64b5cd",
    "LRN": "#ccb974",
    "BN": "#937860",
    "maxpool": "#c44e52",
    "FC": "#55a868",
    "soft-max": "#dd8452",
}
"""Colour of each kind of box in ``draw_layer_stack``."""


def _kind(kind: str, kernel: int) -> str:
    """The colour key of a planned layer."""
    return {"conv": f"conv{kernel}", "lrn": "LRN", "bn": "BN", "fc": "FC"}.get(kind, kind)


def draw_layer_stack(spec: VGGSpec, ax: Axes | None = None) -> Axes:
    """Draw the layers of ``spec`` left to right, one box each, stages set apart.

    A box's height is the side of the layer's output map (drawn to scale against the input);
    its width grows with the log of its channels (pooling, LRN and batch-norm boxes are thin).
    The FC layers and the soft-max output vectors: their boxes have a fixed height. Each box is
    labelled with the paper's name.
    """
    # Long as one drawing, top to bottom: split, it would scatter the coordinates it shares.
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 4.8))
    full = spec.resolution
    vector_height = 0.35 * full
    x, stage, gap = 0.0, 1, 0.9
    starts = {1: 0.0}
    sides: dict[int, int] = {}
    layers = [
        (ly.kind, ly.kernel, ly.stage, ly.out_channels, name, side) for ly, name, side in walk(spec)
    ]
    layers.append(("soft-max", 0, HEAD, spec.num_classes, "soft-max", 1))
    for kind, kernel, s, channels, name, side in layers:
        if s != stage:
            starts[stage + 1] = x + gap / 2
            x += gap
            stage = s
        key = _kind(kind, kernel)
        if kind == "conv":
            sides.setdefault(s, side)
        thin = kind in ("maxpool", "lrn", "bn")
        width = 0.35 if thin else 0.45 + 0.12 * math.log2(channels / 64 + 1)
        height = vector_height if key in ("FC", "soft-max") else full * side / spec.resolution
        ax.add_patch(
            Rectangle((x, -height / 2), width, height, facecolor=COLOURS[key], edgecolor="black")
        )
        ax.text(
            x + width / 2,
            -full / 2 - 0.04 * full,
            name,
            rotation=90,
            ha="center",
            va="top",
            fontsize=9,
        )
        x += width + 0.12
    ends = [*list(starts.values())[1:], x]
    for (s, start), end in zip(starts.items(), ends, strict=True):
        if s > 1:
            ax.axvline(start - 0.06, color="0.6", linestyle=":", linewidth=1)
        label = "FC head" if s == HEAD else f"stage {s}\n{sides[s]}×{sides[s]}"
        ax.text((start + end) / 2 - 0.1, full / 2 + 0.04 * full, label, ha="center", fontsize=10)
    used = {_kind(kind, kernel) for kind, kernel, *_ in layers}
    ax.legend(
        handles=[
            Patch(facecolor=c, edgecolor="black", label=k) for k, c in COLOURS.items() if k in used
        ],
        loc="upper right",
        ncols=len(used),
        frameon=False,
        bbox_to_anchor=(1.0, 1.2),
        fontsize=9,
    )
    ax.set_xlim(-0.2, x)
    ax.set_ylim(-full / 2 - 0.45 * full, full / 2 + 0.2 * full)
    ax.set_axis_off()
    ax.set_title(f"VGG {spec.config}, {spec.resolution}×{spec.resolution} input", loc="left")
    return ax
