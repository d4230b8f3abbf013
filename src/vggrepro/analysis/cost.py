"""Parameters, multiply-accumulates, activation memory and receptive fields, from the plan alone.

Everything here is arithmetic on ``VGGSpec.features()`` and ``VGGSpec.classifier()``: no model is
built, except by ``measured_counts``, which asks three tools for the same numbers so that they
can be compared: torchinfo, fvcore and torch's own ``torch.utils.flop_counter``. The last is
built into torch and maintained with it; fvcore has not been released since 2022 and is kept
as a cross-check. The counting conventions (see ``layer_table``) are:

* ``macs``: one per multiply-add of a conv or FC weight, biases not included;
* ``fvcore_flops``: fvcore's count, ``macs`` plus two per element of a batch-norm output
  (fvcore's rule for batch norm in evaluation mode); ReLU, dropout, LRN and max-pool count zero;
* ``torch_flops``: ``torch.utils.flop_counter``'s count, two per multiply-add of a conv or FC
  weight (a multiplication and an addition), biases, batch norm and the rest not included;
* ``torchinfo_mult_adds``: torchinfo's count, the parameters of each conv layer times its output
  positions (so biases count), the parameters of every other layer once per image (FC and BN).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from vggrepro.arch.configs import TABLE1, VGGSpec, alias, weight_layers
from vggrepro.arch.models import TORCHVISION_NAMES, build, torchvision_name
from vggrepro.reference import PUBLISHED

# Training FLOPs per multiply-accumulate: each MAC is 2 FLOPs (a multiply and an add), and a
# training step does every matmul/convolution three times: the forward pass, then in the
# backward pass the gradient with respect to the layer's input and the gradient with respect
# to its weights, each as many MACs as the forward. (The first convolution needs no input
# gradient, about 0.6% of VGG-16's MACs; by the usual convention it is counted anyway.)
# Biases, ReLU, pooling, dropout and the optimiser update are not counted.
FLOPS_PER_MAC = 3 * 2

STORED_KINDS = frozenset({"conv", "bn", "lrn", "maxpool", "fc"})
"""Layers whose output is a new tensor (our ReLUs run in place; dropout is the identity in eval)."""


def grow(rf: int, jump: int, kernel: int, stride: int) -> tuple[int, int]:
    """Receptive field and jump after one more layer with this kernel and stride.

    A new unit sees ``kernel`` neighbouring units of the layer below, which lie ``jump`` input
    pixels apart and each see ``rf`` pixels: rf' = rf + (kernel - 1) * jump, jump' = jump * stride.
    """
    return rf + (kernel - 1) * jump, jump * stride


def _names(spec: VGGSpec) -> list[tuple[str, str]]:
    """(name, paper label) of each planned layer: conv3_2 / conv3-256, pool3 / maxpool, ..."""
    out, conv_i, fc_i = [], {}, 5
    for ly in spec.features():
        s = ly.stage
        if ly.kind == "conv":
            conv_i[s] = conv_i.get(s, 0) + 1
            out.append((f"conv{s}_{conv_i[s]}", f"conv{ly.kernel}-{ly.out_channels}"))
        elif ly.kind in ("bn", "relu"):
            out.append((f"{ly.kind}{s}_{conv_i[s]}", "BN" if ly.kind == "bn" else ly.kind))
        elif ly.kind == "lrn":
            out.append((f"lrn{s}", "LRN"))
        else:
            out.append((f"pool{s}", "maxpool"))
    for ly in spec.classifier():
        if ly.kind == "fc":
            fc_i += 1
            out.append((f"fc{fc_i}", f"FC-{ly.out_channels}"))
        else:
            out.append((f"{ly.kind[:4]}{fc_i}", ly.kind))
    return out


def layer_table(spec: VGGSpec, batch: int = 1, bytes_per_value: int = 4) -> pd.DataFrame:
    """One row per planned layer, in ``nn.Sequential`` order, with its shape and costs.

    ``part``/``index`` locate the layer in ``model.features`` or ``model.classifier``; shapes are
    (C, H, W) per image, an FC layer's output written as (features, 1, 1).
    ``params`` counts weights and biases (BN: scale and shift; running statistics are buffers).
    ``macs``, ``bias_adds``, ``fvcore_flops`` and ``torchinfo_mult_adds`` are for a batch of
    ``batch`` images; ``activations`` is output elements per image, ``act_bytes`` for the batch.
    Sizes round down after a max-pool, as PyTorch's do. ``rf`` is the side of the input square
    one unit sees and ``jump`` the input distance between neighbouring units. FC-1 is read as a
    convolution whose kernel covers the whole last map (the paper's dense evaluation), FC-2 and
    FC-3 as 1x1 convolutions.
    """
    # Long on purpose: one case per kind of layer, each
    # the arithmetic a reader checks against the paper, side by side in one loop.
    c, h, w = 3, spec.resolution, spec.resolution
    rf, jump = 1, 1
    rows = []
    plan = [("features", i, ly) for i, ly in enumerate(spec.features())]
    plan += [("classifier", i, ly) for i, ly in enumerate(spec.classifier())]
    for (part, index, ly), (name, label) in zip(plan, _names(spec), strict=True):
        params = macs = bias_adds = fvcore = torchinfo = 0
        kernel, in_shape = None, (c, h, w)
        match ly.kind:
            case "conv":
                kernel = ly.kernel
                h = (h + 2 * ly.padding - ly.kernel) // ly.stride + 1
                w = (w + 2 * ly.padding - ly.kernel) // ly.stride + 1
                c = ly.out_channels
                rf, jump = grow(rf, jump, ly.kernel, ly.stride)
                weights = ly.kernel**2 * ly.in_channels * ly.out_channels
                params = weights + c
                macs = weights * h * w * batch
                bias_adds = c * h * w * batch
                fvcore = macs
                torchinfo = params * h * w * batch
            case "maxpool":
                kernel = ly.kernel
                h = (h + 2 * ly.padding - ly.kernel) // ly.stride + 1
                w = (w + 2 * ly.padding - ly.kernel) // ly.stride + 1
                rf, jump = grow(rf, jump, ly.kernel, ly.stride)
            case "bn":
                params = 2 * c
                fvcore = 2 * c * h * w * batch
                torchinfo = params * batch
            case "fc":
                if ly.in_channels != c * h * w:
                    raise ValueError(f"{name} expects {ly.in_channels} inputs, gets {c * h * w}")
                if h != w:
                    raise ValueError(f"{name} follows a non-square {h}x{w} map")
                rf, jump = grow(rf, jump, h, 1)
                c, h, w = ly.out_channels, 1, 1
                params = ly.in_channels * c + c
                macs = ly.in_channels * c * batch
                bias_adds = c * batch
                fvcore = macs
                torchinfo = params * batch
        activations = c * h * w
        rows.append(
            {
                "part": part,
                "index": index,
                "name": name,
                "layer": label,
                "stage": ly.stage,
                "kind": ly.kind,
                "kernel": kernel,
                "in_shape": in_shape,
                "out_shape": (c, h, w),
                "params": params,
                "macs": macs,
                "bias_adds": bias_adds,
                "fvcore_flops": fvcore,
                "torchinfo_mult_adds": torchinfo,
                "activations": activations,
                "act_bytes": activations * batch * bytes_per_value,
                "rf": rf,
                "jump": jump,
            }
        )
    table = pd.DataFrame(rows)
    table["kernel"] = table["kernel"].astype("Int64")
    return table


def totals(spec: VGGSpec) -> dict[str, float]:
    """Totals per image, and the shares of the conv part (features) and the FC head (classifier).

    ``activations`` sums the outputs of the layers in ``STORED_KINDS``.
    """
    t = layer_table(spec)
    fc = t["part"] == "classifier"
    params, macs = int(t["params"].sum()), int(t["macs"].sum())
    fc_params, fc_macs = int(t.loc[fc, "params"].sum()), int(t.loc[fc, "macs"].sum())
    return {
        "params": params,
        "conv_params": params - fc_params,
        "fc_params": fc_params,
        "macs": macs,
        "conv_macs": macs - fc_macs,
        "fc_macs": fc_macs,
        "activations": int(t.loc[t["kind"].isin(STORED_KINDS), "activations"].sum()),
        "conv_param_share": (params - fc_params) / params,
        "fc_param_share": fc_params / params,
        "conv_mac_share": (macs - fc_macs) / macs,
        "fc_mac_share": fc_macs / macs,
    }


def fvcore_flops(spec: VGGSpec, batch: int = 1) -> int:
    """The total fvcore reports for the model in evaluation mode."""
    return int(layer_table(spec, batch)["fvcore_flops"].sum())


def torch_flops(spec: VGGSpec, batch: int = 1) -> int:
    """The total ``torch.utils.flop_counter`` reports: two FLOPs per multiply-accumulate."""
    return 2 * int(layer_table(spec, batch)["macs"].sum())


def torchinfo_mult_adds(spec: VGGSpec, batch: int = 1) -> int:
    """The ``total_mult_adds`` torchinfo reports."""
    return int(layer_table(spec, batch)["torchinfo_mult_adds"].sum())


def _paper_shaped(spec: VGGSpec) -> bool:
    """Whether the published figures describe this net (ImageNet size and head)."""
    return (spec.resolution, spec.num_classes, spec.width, spec.fc_width) == (224, 1000, 1.0, 4096)


def config_table(configs: Iterable[str] = tuple(TABLE1), **spec_fields) -> pd.DataFrame:
    """One row per configuration: totals, shares and, where they exist, the published figures.

    ``spec_fields`` are passed to every ``VGGSpec``; the published columns are filled only for
    nets of the published shape (224 x 224, 1000 classes, full width; paper: no batch norm).
    """
    rows = []
    for config in configs:
        spec = VGGSpec(config, **spec_fields)
        t = totals(spec)
        tv = torchvision_name(spec) if spec.config in TORCHVISION_NAMES else None
        published = _paper_shaped(spec)
        paper = PUBLISHED["paper_mparams"].get(spec.config) if not spec.batch_norm else None
        rows.append(
            {
                "config": spec.config,
                "weight_layers": weight_layers(spec.config),
                "params": t["params"],
                "params_M": t["params"] / 1e6,
                "paper_params_M": paper if published else None,
                "torchvision": tv,
                "torchvision_params": PUBLISHED["torchvision_params"].get(tv)
                if published
                else None,
                "macs": t["macs"],
                "gmacs": t["macs"] / 1e9,
                "torchvision_gmacs": PUBLISHED["torchvision_gmacs"].get(tv) if published else None,
                "fc_param_share": t["fc_param_share"],
                "fc_mac_share": t["fc_mac_share"],
                "activations": t["activations"],
            }
        )
    table = pd.DataFrame(rows).set_index("config")
    return table.astype({"paper_params_M": "Int64", "torchvision_params": "Int64"})


@dataclass(frozen=True)
class Measured:
    """What torchinfo, fvcore and torch's flop counter report for a built model."""

    total_params: int  # torchinfo's total_params
    torchinfo_mult_adds: int  # torchinfo's total_mult_adds
    fvcore_flops: int  # fvcore's FlopCountAnalysis.total()
    torch_flops: int  # torch.utils.flop_counter.FlopCounterMode's total
    layers: pd.DataFrame  # per leaf layer: part, index, torchinfo_params, ..._mult_adds, fvcore


def measured_counts(spec: VGGSpec, batch: int = 1) -> Measured:
    """Build the model of ``spec`` and count it with torchinfo, fvcore and torch's flop counter
    (evaluation mode).

    torchinfo and fvcore are imported here so that this module works where they are not installed.
    fvcore's unsupported-op log lines (max-pool, ReLU ...) and the tracer's warnings are silenced.
    """
    import torchinfo

    model = build(spec).eval()
    x = torch.zeros(batch, 3, spec.resolution, spec.resolution)
    stats = torchinfo.summary(model, input_data=x, verbose=0, mode="eval")
    fv_logger = logging.getLogger("fvcore")
    level = fv_logger.level
    fv_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fvcore.nn import FlopCountAnalysis

            flops = FlopCountAnalysis(model, x)
            flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            flops.tracer_warnings("none")
            fv_total, fv_by_module = int(flops.total()), flops.by_module()
    finally:
        fv_logger.setLevel(level)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    where = {
        id(m): (p, i)
        for p in ("features", "classifier")
        for i, m in enumerate(model.get_submodule(p))
    }
    rows = [
        {
            "part": where[id(info.module)][0],
            "index": where[id(info.module)][1],
            "torchinfo_params": info.num_params,
            "torchinfo_mult_adds": info.macs,
        }
        for info in stats.summary_list
        if info.is_leaf_layer
    ]
    layers = pd.DataFrame(rows)
    layers["fvcore_flops"] = [
        int(fv_by_module[f"{p}.{i}"]) for p, i in zip(layers["part"], layers["index"], strict=True)
    ]
    return Measured(
        total_params=int(stats.total_params),
        torchinfo_mult_adds=int(stats.total_mult_adds),
        fvcore_flops=fv_total,
        torch_flops=int(counter.get_total_flops()),
        layers=layers,
    )


HOURS_PER_WEEK = 7 * 24


def training_costs(
    epochs: int, peak_flops: float, mfu: float | None = None, images: float = 1e6
) -> pd.DataFrame:
    """The compute of training each configuration of Table 1 at 224 px for ``epochs`` epochs of
    ``images`` images (``FLOPS_PER_MAC`` FLOPs per MAC: forward and backward), and the hours it
    takes one GPU of ``peak_flops`` FLOP/s at its peak and, given, at the utilisation ``mfu``."""
    rows = []
    for config in TABLE1:
        macs = totals(VGGSpec(config))["macs"]
        per_image = FLOPS_PER_MAC * macs
        run = per_image * images * epochs
        rows.append(
            {
                "config": f"{config} ({alias(config)})" if config != "A-LRN" else config,
                "GMACs per image": macs / 1e9,
                "training TFLOPs per image": per_image / 1e12,
                "PFLOPs per epoch": per_image * images / 1e15,
                "EFLOPs per run": run / 1e18,
                "GPU-hours at peak": run / peak_flops / 3600,
                "GPU-hours at measured MFU": run / (mfu * peak_flops) / 3600 if mfu else None,
            }
        )
    return pd.DataFrame(rows).set_index("config")


def gpu_hours(gpus: int, weeks: float) -> float:
    """GPU-hours of ``gpus`` GPUs busy for ``weeks`` weeks."""
    return gpus * weeks * HOURS_PER_WEEK
