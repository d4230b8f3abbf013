"""The paper's Table 1 as data, and the layer plan that every other module reads.

A configuration is five stages; each stage is a list of layers and ends in a 2x2 max-pool with
stride 2. A layer is ``(kernel, channels)`` for a convolution with stride 1 and "same" padding,
or ``LRN`` for AlexNet's local response normalisation. Every net ends in FC-4096, FC-4096,
FC-classes (the paper's Table 1, read top to bottom).
"""

from __future__ import annotations

from dataclasses import dataclass, field

LRN = "LRN"
Layer = tuple[int, int] | str

_C3 = {c: (3, c) for c in (64, 128, 256, 512)}  # conv3-N
_C1 = {c: (1, c) for c in (256, 512)}  # conv1-N

TABLE1: dict[str, list[list[Layer]]] = {
    "A": [[_C3[64]], [_C3[128]], [_C3[256]] * 2, [_C3[512]] * 2, [_C3[512]] * 2],
    "A-LRN": [[_C3[64], LRN], [_C3[128]], [_C3[256]] * 2, [_C3[512]] * 2, [_C3[512]] * 2],
    "B": [[_C3[64]] * 2, [_C3[128]] * 2, [_C3[256]] * 2, [_C3[512]] * 2, [_C3[512]] * 2],
    "C": [
        [_C3[64]] * 2,
        [_C3[128]] * 2,
        [_C3[256]] * 2 + [_C1[256]],
        [_C3[512]] * 2 + [_C1[512]],
        [_C3[512]] * 2 + [_C1[512]],
    ],
    "D": [[_C3[64]] * 2, [_C3[128]] * 2, [_C3[256]] * 3, [_C3[512]] * 3, [_C3[512]] * 3],
    "E": [[_C3[64]] * 2, [_C3[128]] * 2, [_C3[256]] * 4, [_C3[512]] * 4, [_C3[512]] * 4],
}
"""The six configurations of the paper's Table 1."""

ABLATIONS: dict[str, list[list[Layer]]] = {
    # Section 4.1: B with each pair of 3x3 convolutions replaced by a single 5x5 convolution.
    "B-5x5": [[(5, 64)], [(5, 128)], [(5, 256)], [(5, 512)], [(5, 512)]],
}
"""Variants the paper trains for its ablations but does not list in Table 1."""

CONFIGS: dict[str, list[list[Layer]]] = {**TABLE1, **ABLATIONS}

ALIASES: dict[str, str] = {
    "vgg11": "A",
    "vgg11_lrn": "A-LRN",
    "vgg13": "B",
    "vgg16_1x1": "C",
    "vgg16": "D",
    "vgg19": "E",
    "vgg13_5x5": "B-5x5",
}
"""The names people use, mapped to the paper's letters."""

LRN_PARAMS = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}
"""AlexNet's LRN settings, which the paper reuses for A-LRN."""

PAPER_RESOLUTION = 224
PAPER_CLASSES = 1000
PAPER_FC_WIDTH = 4096
N_POOLS = 5


def resolve(name: str) -> str:
    """The paper's letter for a configuration given by letter or by alias."""
    if name in CONFIGS:
        return name
    if name in ALIASES:
        return ALIASES[name]
    valid = ", ".join([*CONFIGS, *ALIASES])
    raise ValueError(f"unknown VGG configuration {name!r}; valid names are: {valid}")


def alias(config: str) -> str:
    """The common name (vgg11, ...) of a configuration letter."""
    letter = resolve(config)
    return next(a for a, c in ALIASES.items() if c == letter)


def weight_layers(config: str) -> int:
    """Number of weight layers (convolutions plus the three FC layers), as in Table 1."""
    stages = CONFIGS[resolve(config)]
    return sum(layer != LRN for stage in stages for layer in stage) + 3


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a built net, in the order of ``nn.Sequential``."""

    kind: str  # conv, bn, relu, lrn, maxpool, fc, dropout
    stage: int  # 1..5 for the convolutional stages, 6 for the classifier
    in_channels: int = 0
    out_channels: int = 0
    kernel: int = 1
    stride: int = 1
    padding: int = 0


@dataclass(frozen=True)
class VGGSpec:
    """Everything that fixes a VGG net's shape. Defaults are the paper's ImageNet nets."""

    config: str = "D"
    num_classes: int = PAPER_CLASSES
    resolution: int = PAPER_RESOLUTION
    width: float = 1.0
    fc_width: int = PAPER_FC_WIDTH
    batch_norm: bool = False
    dropout: float = 0.5
    stages: list[list[Layer]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", resolve(self.config))
        object.__setattr__(self, "stages", CONFIGS[self.config])
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {self.num_classes}")
        if self.resolution < 2**N_POOLS:
            raise ValueError(
                f"resolution {self.resolution} is too small for {N_POOLS} 2x2 max-pools; "
                f"it must be at least {2**N_POOLS}"
            )
        if self.fc_width < 1:
            raise ValueError(f"fc_width must be a positive integer, got {self.fc_width}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        smallest = min(layer[1] for stage in self.stages for layer in stage if layer != LRN)
        if self.channels(smallest) < 1:
            raise ValueError(
                f"width {self.width} rounds the {smallest}-channel layers to zero channels; "
                f"use a width of at least {1 / smallest:g}"
            )

    def channels(self, c: int) -> int:
        """Channels of a conv layer that has ``c`` channels in the paper."""
        return round(c * self.width)

    @property
    def final_map(self) -> int:
        """Side of the last feature map: each max-pool halves it, rounding down."""
        return self.resolution // 2**N_POOLS

    @property
    def final_channels(self) -> int:
        return self.channels(self.stages[-1][-1][1])

    def features(self) -> list[LayerSpec]:
        """The convolutional part, layer by layer, in the order the builder stacks it."""
        plan, c_in = [], 3
        for s, stage in enumerate(self.stages, start=1):
            for layer in stage:
                if layer == LRN:
                    plan.append(LayerSpec("lrn", s, c_in, c_in, LRN_PARAMS["size"]))
                    continue
                k, c = layer
                c_out = self.channels(c)
                plan.append(LayerSpec("conv", s, c_in, c_out, k, 1, k // 2))
                if self.batch_norm:
                    plan.append(LayerSpec("bn", s, c_out, c_out))
                plan.append(LayerSpec("relu", s, c_out, c_out))
                c_in = c_out
            plan.append(LayerSpec("maxpool", s, c_in, c_in, 2, 2))
        return plan

    def classifier(self) -> list[LayerSpec]:
        """The FC head: FC-fc_width, FC-fc_width, FC-num_classes with ReLU and dropout."""
        fc_in = self.final_channels * self.final_map**2
        w = self.fc_width
        return [
            LayerSpec("fc", 6, fc_in, w),
            LayerSpec("relu", 6, w, w),
            LayerSpec("dropout", 6, w, w),
            LayerSpec("fc", 6, w, w),
            LayerSpec("relu", 6, w, w),
            LayerSpec("dropout", 6, w, w),
            LayerSpec("fc", 6, w, self.num_classes),
        ]
