"""One builder for every VGG net, and the FC head's conversion to convolutions.

The layout follows torchvision's ``vgg.py`` (``features`` then ``classifier``, the same
``nn.Sequential`` indices), so torchvision's state dicts for vgg11/13/16/19 and their ``_bn``
variants load into our A, B, D and E unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from vggrepro.arch.configs import LRN_PARAMS, LayerSpec, VGGSpec


def _module(layer: LayerSpec, dropout: float) -> nn.Module:
    """The PyTorch module for one planned layer."""
    match layer.kind:
        case "conv":
            return nn.Conv2d(
                layer.in_channels, layer.out_channels, layer.kernel, layer.stride, layer.padding
            )
        case "bn":
            return nn.BatchNorm2d(layer.out_channels)
        case "relu":
            return nn.ReLU(inplace=True)
        case "lrn":
            # PyTorch divides alpha by the window size; AlexNet's formula does not.
            size = LRN_PARAMS["size"]
            return nn.LocalResponseNorm(
                size, alpha=LRN_PARAMS["alpha"] * size, beta=LRN_PARAMS["beta"], k=LRN_PARAMS["k"]
            )
        case "maxpool":
            return nn.MaxPool2d(layer.kernel, layer.stride)
        case "fc":
            return nn.Linear(layer.in_channels, layer.out_channels)
        case "dropout":
            return nn.Dropout(dropout)
    raise ValueError(f"unknown layer kind {layer.kind!r}")


class VGG(nn.Module):
    """A VGG net: ``features`` (conv stages) then ``classifier`` (three FC layers)."""

    def __init__(self, spec: VGGSpec) -> None:
        super().__init__()
        self.spec = spec
        self.features = nn.Sequential(*(_module(ly, spec.dropout) for ly in spec.features()))
        self.classifier = nn.Sequential(*(_module(ly, spec.dropout) for ly in spec.classifier()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def build(config: str | VGGSpec = "D", **options) -> VGG:
    """Build a VGG net from a configuration name (A..E, vgg11, ...) or a full ``VGGSpec``.

    ``options`` are ``VGGSpec`` fields: num_classes, resolution, width, fc_width, batch_norm,
    dropout. Weights keep PyTorch's default initialisation; see ``vggrepro.arch.initialisation``.
    """
    spec = config if isinstance(config, VGGSpec) else VGGSpec(config, **options)
    return VGG(spec)


class DenseVGG(nn.Module):
    """A VGG net whose FC head is rewritten as convolutions (the paper's dense evaluation).

    FC-1 becomes a k x k convolution (k = side of the last feature map at the training
    resolution), FC-2 and FC-3 become 1 x 1 convolutions, with the same weights. On an input
    of the training resolution the score map is 1 x 1 and equals the FC net's scores; on a
    larger input it is a map of class scores, which ``forward`` averages spatially.
    """

    def __init__(self, model: VGG) -> None:
        super().__init__()
        spec = model.spec
        self.spec = spec
        self.features = model.features
        k = spec.final_map
        fc1, fc2, fc3 = (m for m in model.classifier if isinstance(m, nn.Linear))
        layers: list[nn.Module] = []
        for fc, kernel in ((fc1, k), (fc2, 1), (fc3, 1)):
            conv = nn.Conv2d(
                fc.in_features // kernel**2, fc.out_features, kernel,
                device=fc.weight.device, dtype=fc.weight.dtype,
            )  # fmt: skip
            with torch.no_grad():
                conv.weight.copy_(fc.weight.view(conv.weight.shape))
                conv.bias.copy_(fc.bias)
            layers += [conv, nn.ReLU(inplace=True), nn.Dropout(spec.dropout)]
        self.head = nn.Sequential(*layers[:-2])

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores at every position: (N, classes, H', W')."""
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score_map(x).mean(dim=(2, 3))


def to_dense(model: VGG) -> DenseVGG:
    """The fully-convolutional version of ``model``, sharing its conv layers."""
    return DenseVGG(model)


TORCHVISION_NAMES = {"A": "vgg11", "B": "vgg13", "D": "vgg16", "E": "vgg19"}
"""The configurations torchvision also ships (it has neither A-LRN nor C)."""


def torchvision_name(spec: VGGSpec) -> str:
    """torchvision's constructor name for the same net, e.g. ``vgg16_bn``."""
    if spec.config not in TORCHVISION_NAMES:
        have = ", ".join(TORCHVISION_NAMES)
        raise ValueError(f"torchvision has no configuration {spec.config}; it has {have}")
    return TORCHVISION_NAMES[spec.config] + ("_bn" if spec.batch_norm else "")
