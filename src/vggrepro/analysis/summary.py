"""Tables and checks that the book shows: Table 1, layer listings, summaries, shape traces.

Everything is computed from ``vggrepro.arch.configs`` or from a built net; nothing is typed in.
Cost per layer (parameters, FLOPs, memory) lives in ``vggrepro.analysis.cost``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd
import torch
from torch import nn

from vggrepro.analysis import cost
from vggrepro.arch.configs import (
    CONFIGS,
    LRN,
    PAPER_CLASSES,
    PAPER_FC_WIDTH,
    PAPER_RESOLUTION,
    TABLE1,
    Layer,
    LayerSpec,
    VGGSpec,
    resolve,
    weight_layers,
)
from vggrepro.arch.models import VGG, build, to_dense, torchvision_name

HEAD = 6
"""Stage number that ``LayerSpec`` gives the FC head."""


def walk(spec: VGGSpec) -> Iterator[tuple[LayerSpec, str, int]]:
    """Each planned layer except ReLU and dropout, with its paper name (conv3-64, maxpool,
    FC-4096, ...) and its output's side, both read from ``cost.layer_table``."""
    table = cost.layer_table(spec)
    for layer, name, shape in zip(
        spec.features() + spec.classifier(), table["layer"], table["out_shape"], strict=True
    ):
        if layer.kind not in ("relu", "dropout"):
            yield layer, name, shape[1]


def table1(configs: Iterable[str] = tuple(TABLE1)) -> pd.DataFrame:
    """The paper's Table 1, regenerated from ``configs.CONFIGS``: one column per configuration.

    Rows go stage by stage; within a stage each configuration's layers fill the rows from the
    top, so a stage has as many rows as its longest configuration and shorter ones end blank.
    The index is (block, row): ``("stage 3", "2")``, ``("stage 3", "pool")``, ``("head", "1")``.
    The last row counts the weight layers.
    """
    names = [resolve(c) for c in configs]
    stages = {c: CONFIGS[c] for c in names}
    index: list[tuple[str, str]] = [("input", "")]
    rows: list[list[str | int]] = [
        [f"{PAPER_RESOLUTION} × {PAPER_RESOLUTION} RGB image"] * len(names)
    ]
    for s in range(len(stages[names[0]])):
        depth = max(len(stages[c][s]) for c in names)
        for i in range(depth):
            index.append((f"stage {s + 1}", str(i + 1)))
            rows.append([_cell(stages[c][s], i) for c in names])
        index.append((f"stage {s + 1}", "pool"))
        rows.append(["maxpool"] * len(names))
    head = [f"FC-{PAPER_FC_WIDTH}", f"FC-{PAPER_FC_WIDTH}", f"FC-{PAPER_CLASSES}", "soft-max"]
    for i, cell in enumerate(head):
        index.append(("head", str(i + 1)))
        rows.append([cell] * len(names))
    index.append(("weight layers", ""))
    rows.append([weight_layers(c) for c in names])
    return pd.DataFrame(
        rows, index=pd.MultiIndex.from_tuples(index, names=["block", "row"]), columns=names
    )


def _cell(stage: list[Layer], i: int) -> str:
    """Table 1's text for the ``i``-th layer of a stage, blank past its end."""
    if i >= len(stage):
        return ""
    layer = stage[i]
    return LRN if layer == LRN else f"conv{layer[0]}-{layer[1]}"


def layer_listing(spec: VGGSpec) -> pd.DataFrame:
    """The layer plan of ``spec`` as a table, ReLU and dropout left out (they keep the shape)."""
    rows = []
    for layer, name, side in walk(spec):
        if layer.kind in ("conv", "maxpool"):
            kernel = f"{layer.kernel}×{layer.kernel}, stride {layer.stride}, pad {layer.padding}"
        else:
            kernel = ""
        shape = f"{side}×{side}×" if layer.kind != "fc" else ""
        rows.append(
            {
                "stage": "head" if layer.stage == HEAD else str(layer.stage),
                "layer": name,
                "kind": layer.kind,
                "channels": f"{layer.in_channels} → {layer.out_channels}",
                "kernel": kernel,
                "output": f"{shape}{layer.out_channels}",
            }
        )
    return pd.DataFrame(rows)


def torchinfo_summary(net: VGGSpec | VGG, depth: int = 2, by_stage: bool = False) -> pd.DataFrame:
    """torchinfo's summary of a net, or of the net built from a spec, for one image, as a table.

    Rows are the modules down to ``depth`` (1: features and classifier; 2: every layer), with
    class, output shape and parameters, read from ``ModelStatistics.summary_list``. With
    ``by_stage`` the layers are grouped by the stage of the plan: the modules in each, the
    stage's output shape and its parameters. ``attrs["total_params"]`` holds torchinfo's total.
    """
    import torchinfo

    model = net if isinstance(net, VGG) else build(net)
    spec = model.spec
    side = spec.resolution
    stats = torchinfo.summary(
        model.eval(), input_size=(1, 3, side, side), depth=depth, verbose=0, device="cpu"
    )
    rows = [
        {
            "module": _path(info),
            "class": info.class_name,
            "output shape": tuple(info.output_size),
            "params": info.num_params,
        }
        for info in stats.summary_list
        if 1 <= info.depth <= (2 if by_stage else depth)
    ]
    frame = pd.DataFrame(rows)
    if by_stage:
        plan = spec.features() + spec.classifier()
        leaves = frame[frame["module"].str.contains(".", regex=False)].copy()
        leaves["stage"] = ["head" if ly.stage == HEAD else f"stage {ly.stage}" for ly in plan]
        frame = leaves.groupby("stage", sort=False).agg(
            layers=("class", _count_classes),
            **{"output shape": ("output shape", "last"), "params": ("params", "sum")},
        )
    frame.attrs["total_params"] = stats.total_params
    return frame


def _path(info) -> str:
    """Dotted module path of a torchinfo ``LayerInfo``: ``features.3``."""
    names = []
    while info is not None and info.depth > 0:
        names.append(info.var_name)
        info = info.parent_info
    return ".".join(reversed(names))


def _count_classes(classes: pd.Series) -> str:
    """``Conv2d ×2, ReLU ×2, MaxPool2d`` for a stage's module classes."""
    counts = classes.value_counts(sort=False)
    return ", ".join(name if n == 1 else f"{name} ×{n}" for name, n in counts.items())


def forward_check(configs: Iterable[str] = tuple(TABLE1), **spec_fields) -> pd.DataFrame:
    """Build each configuration, run one image through it, and report what came out.

    One net is alive at a time (a full-size net holds about half a gigabyte of weights).
    """
    rows = []
    for config in configs:
        spec = VGGSpec(config, **spec_fields)
        model = build(spec).eval()
        with torch.no_grad():
            out = model(torch.zeros(1, 3, spec.resolution, spec.resolution))
        rows.append(
            {
                "config": spec.config,
                "weight layers": weight_layers(spec.config),
                "output shape": tuple(out.shape),
                "params": sum(p.numel() for p in model.parameters()),
            }
        )
        del model
    return pd.DataFrame(rows)


def torchvision_difference(model: VGG, seed: int = 0) -> dict[str, int | float]:
    """Load a freshly initialised torchvision twin's state dict into ``model`` and compare.

    The twin (``torchvision.models.vgg16`` for D, ...) gets random weights, not pretrained ones:
    the point is that its tensors fit ours name for name and compute the same function. The
    load is strict, and ``model`` keeps the twin's weights. Returns the number of tensors
    loaded and the largest absolute difference of the two outputs on one random image.
    """
    import torchvision

    spec = model.spec
    torch.manual_seed(seed)
    twin = getattr(torchvision.models, torchvision_name(spec))(
        weights=None, num_classes=spec.num_classes, dropout=spec.dropout
    ).eval()
    state = twin.state_dict()
    model.load_state_dict(state, strict=True)
    model.eval()
    x = torch.randn(1, 3, spec.resolution, spec.resolution)
    with torch.no_grad():
        diff = (model(x) - twin(x)).abs().max().item()
    return {"tensors": len(state), "max_abs_diff": diff}


def dense_check(model: VGG, larger: int, seed: int = 0) -> dict[str, float | tuple[int, ...]]:
    """Compare ``model`` with its fully-convolutional form (``models.to_dense``).

    At the training resolution the dense net's 1 x 1 score map must equal the FC scores
    (``max_abs_diff``); on a ``larger`` input it gives a map of scores (``score_map`` shape).
    """
    spec = model.spec
    dense = to_dense(model.eval()).eval()
    torch.manual_seed(seed)
    x = torch.randn(1, 3, spec.resolution, spec.resolution)
    big = torch.randn(1, 3, larger, larger)
    with torch.no_grad():
        diff = (dense(x) - model(x)).abs().max().item()
        score_map = tuple(dense.score_map(big).shape)
    return {"max_abs_diff": diff, "score_map": score_map}


def shape_trace(model: VGG) -> pd.DataFrame:
    """Input and output shape of every layer in one forward pass, recorded by forward hooks.

    One zero image at the spec's resolution; shapes are per image, (C, H, W) or (features,).
    ``kernel``, ``stride`` and ``padding`` are the module's own (0 where it has none).
    """
    rows: list[dict] = []

    def record(part: str, index: int):
        def hook(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
            rows.append(
                {
                    "part": part,
                    "index": index,
                    "layer": type(module).__name__,
                    "kernel": _first(getattr(module, "kernel_size", 0)),
                    "stride": _first(getattr(module, "stride", 0)),
                    "padding": _first(getattr(module, "padding", 0)),
                    "input": tuple(inputs[0].shape[1:]),
                    "output": tuple(output.shape[1:]),
                }
            )

        return hook

    handles = [
        module.register_forward_hook(record(part, i))
        for part in ("features", "classifier")
        for i, module in enumerate(getattr(model, part))
    ]
    side = model.spec.resolution
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, side, side))
    finally:
        for handle in handles:
            handle.remove()
    return pd.DataFrame(rows)


def _first(value: int | tuple[int, ...]) -> int:
    """The first entry of a PyTorch size argument that may be an int or a tuple."""
    return value[0] if isinstance(value, tuple) else value


def shape_claims(trace: pd.DataFrame) -> pd.DataFrame:
    """Test the usual description of VGG's shapes against a ``shape_trace``.

    The description: input 224×224×3; a 3×3 conv with padding 1 keeps the resolution; each
    2×2 max-pool with stride 2 halves it; FC 4096, 4096, 1000. One row per statement, with
    what the trace shows and whether the statement holds.
    """
    first = trace.iloc[0]["input"]
    conv3 = trace[(trace["layer"] == "Conv2d") & (trace["kernel"] == 3) & (trace["padding"] == 1)]
    kept = sum(i[1:] == o[1:] for i, o in zip(conv3["input"], conv3["output"], strict=True))
    pools = trace[(trace["layer"] == "MaxPool2d") & (trace["kernel"] == 2) & (trace["stride"] == 2)]
    halved = sum(
        o[1] == i[1] // 2 and o[2] == i[2] // 2
        for i, o in zip(pools["input"], pools["output"], strict=True)
    )
    sides = [str(pools.iloc[0]["input"][1])] + [str(o[1]) for o in pools["output"]]
    fcs = [o[0] for o in trace[trace["layer"] == "Linear"]["output"]]
    paper_head = [PAPER_FC_WIDTH, PAPER_FC_WIDTH, PAPER_CLASSES]
    paper_input = (3, PAPER_RESOLUTION, PAPER_RESOLUTION)
    rows = [
        ("input 224×224×3", "×".join(map(str, first[1:] + first[:1])), first == paper_input),
        (
            "a 3×3 conv with padding 1 keeps the resolution",
            f"{kept} of {len(conv3)} such convs keep H×W",
            len(conv3) > 0 and kept == len(conv3),
        ),
        (
            "each 2×2 max-pool with stride 2 halves it",
            f"{halved} of {len(pools)} pools halve: " + " → ".join(sides),
            len(pools) > 0 and halved == len(pools),
        ),
        ("FC 4096, 4096, 1000", ", ".join(map(str, fcs)), fcs == paper_head),
    ]
    return pd.DataFrame(rows, columns=["statement", "observed", "holds"])
