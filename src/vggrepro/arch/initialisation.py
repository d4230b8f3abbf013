"""Weight initialisation schemes, selectable by name, and the paper's warm start from net A.

The paper (section 3.1) samples weights from a normal distribution with "zero mean and
10^-2 variance", with zero biases, and gives no standard deviation. Read literally that is
N(0, 0.1²); the released models are trained weights and cannot tell. We use N(0, 0.01²),
a standard deviation of 0.01, under the name ``paper``: the paper's training "generally
follows" AlexNet's (Krizhevsky et al., 2012), which drew weights "from a zero-mean Gaussian
distribution with standard deviation 0.01", and with 0.1 the activations of a 3x3 conv layer
with 512 inputs grow about 20-fold in variance per layer (9 * 512 * 0.1² / 2 = 23, He et al.,
2015). ``paper_literal`` is the literal reading, N(0, 0.1²), kept so that the difference can
be measured.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vggrepro.arch.models import VGG


def _normal(std: float) -> Callable[[torch.Tensor], None]:
    return lambda w: nn.init.normal_(w, 0.0, std)


SCHEMES: dict[str, Callable[[torch.Tensor], None]] = {
    "paper": _normal(1e-2),
    "paper_literal": _normal(1e-1),
    "glorot": nn.init.xavier_uniform_,  # Glorot & Bengio (2010), the authors' later choice
    "kaiming": lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"),
}
"""Weight samplers for conv and FC layers; biases start at zero, batch-norm at (1, 0)."""


def initialise(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise every conv, FC and batch-norm layer of ``model`` in place; returns it.

    Draws from torch's global RNG, so seed it (``torch.manual_seed``) first.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown initialisation {scheme!r}; valid: {', '.join(SCHEMES)}")
    sample = SCHEMES[scheme]
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            sample(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def _convs_by_stage(model: VGG) -> dict[tuple[int, int], nn.Conv2d]:
    """Conv layers keyed by (stage, index within the stage)."""
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    plan = [ly for ly in model.spec.features() if ly.kind == "conv"]
    keys, seen = [], {}
    for ly in plan:
        seen[ly.stage] = seen.get(ly.stage, -1) + 1
        keys.append((ly.stage, seen[ly.stage]))
    return dict(zip(keys, convs, strict=True))


def warm_start(model: VGG, source: VGG, n_conv: int = 4) -> list[str]:
    """Copy the first ``n_conv`` conv layers and the three FC layers of a trained ``source``.

    The paper initialises "the first four convolutional layers and the last three
    fully-connected layers with the layers of net A". A's first four convolutions are the
    first of stages 1 and 2 and both of stage 3; we copy each onto the layer at the same
    place (stage, index within the stage) of the deeper net, the only mapping under which
    the shapes agree. Returns the names of the copied layers of ``model``.
    """
    target = _convs_by_stage(model)
    src = _convs_by_stage(source)
    names = {id(m): f"features.{i}" for i, m in enumerate(model.features)}
    copied = []
    pairs = [(target.get(key), conv) for key, conv in list(src.items())[:n_conv]]
    src_fcs = [m for m in source.classifier if isinstance(m, nn.Linear)]
    dst_fcs = [m for m in model.classifier if isinstance(m, nn.Linear)]
    fc_names = {id(m): f"classifier.{i}" for i, m in enumerate(model.classifier)}
    names |= fc_names
    for dst, src_layer in [*pairs, *zip(dst_fcs, src_fcs, strict=True)]:
        if dst is None or dst.weight.shape != src_layer.weight.shape:
            got = None if dst is None else tuple(dst.weight.shape)
            raise ValueError(
                f"cannot warm-start: source layer of shape {tuple(src_layer.weight.shape)} "
                f"has no counterpart of the same shape in the target (found {got}); "
                "build both nets with the same width, fc_width, resolution and classes"
            )
        with torch.no_grad():
            dst.weight.copy_(src_layer.weight)
            dst.bias.copy_(src_layer.bias)
        copied.append(names[id(dst)])
    return copied
