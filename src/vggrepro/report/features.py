"""What the layers of a trained net respond to: filters, feature maps, top images, probes.

A *stage* is one of the five blocks that end in a max-pool; its output here is the output of
its last ReLU (the map just before the pool). The chapter "What do the layers see?" reads a
net saved by ``train.save_model`` from ``results/models`` (or ``$VGGREPRO_MODELS``)
together with the results file of the run that produced it (same stem, ``.json``).

Two quantitative probes test the claim that deeper stages respond to larger, more
class-specific structure, each against the same architecture with random weights:

- nearest-class-mean accuracy: each image is described by the spatial mean of each channel of
  a stage's output (L2-normalised); class means come from images the net never trained on and
  every test image is given the class of the nearest mean;
- top-k class purity: for every channel, the share of its k most exciting test images that
  belong to the commonest class among them.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from vggrepro.analysis.receptive import receptive_fields
from vggrepro.arch.initialisation import initialise
from vggrepro.arch.models import VGG, build
from vggrepro.engine.data import (
    CIFAR10,
    TORCHVISION_FOLDER,
    channel_stats,
    load_cifar10,
    random_subset,
)
from vggrepro.engine.loader import normalise
from vggrepro.engine.nets import load_model
from vggrepro.engine.presets import TrainConfig
from vggrepro.engine.provenance import now, provenance
from vggrepro.engine.train import Split, prepare
from vggrepro.files import cache_folder
from vggrepro.report.significance import Status, Verdict, t_statistic, z_critical
from vggrepro.results.io import load_result, save_result
from vggrepro.results.recorded import RESULTS, TIER_NAMES, GridRecord

MODELS = Path(os.environ.get("VGGREPRO_MODELS") or RESULTS / "models")
"""Where the chapter looks for saved nets."""

SYNTHETIC_KINDS = ("grating", "disc", "colour edge", "checkerboard")


@dataclass
class SavedNet:
    """A saved net and the results file of the run that produced it."""

    path: Path
    result: dict

    @property
    def smoke(self) -> bool:
        return bool(self.result["smoke"])

    @property
    def epochs(self) -> int:
        """Epochs actually trained."""
        return len(self.result["history"])

    @property
    def device(self) -> str:
        return self.result["provenance"]["device"]

    @property
    def on_gpu(self) -> bool:
        return self.result["provenance"]["device_type"] == "cuda"

    @property
    def test_error(self) -> float:
        """Centre-crop top-1 test error (%) of the run (NaN when it has none)."""
        return float(self.result["test"].get("centre", {}).get("top1_error", math.nan))

    @property
    def undertrained(self) -> bool:
        """A smoke run, or one that stopped before the end of its own epoch budget."""
        return self.smoke or self.epochs < self.result["config"]["epochs"]

    @property
    def name(self) -> str:
        """e.g. 'vgg11_bn, width 0.5'."""
        c = self.result["config"]
        return f"{c['arch']}{'_bn' if c['batch_norm'] else ''}, width {c['width']:g}"

    @property
    def label(self) -> str:
        """A short phrase for captions."""
        if self.smoke:
            return "smoke model, not a trained net"
        where = "GPU" if self.on_gpu else "CPU"
        tier = TIER_NAMES.get(self.result["preset"], self.result["preset"])
        if self.undertrained:
            return f"under-trained {where} model ({tier}, {self.epochs} epochs)"
        return f"{where}-trained model ({tier}, {self.epochs} epochs)"

    @property
    def record(self) -> GridRecord:
        """The run as a one-run ``GridRecord`` (for ``recorded.export_table``)."""
        return GridRecord("features", [self.result], self.result["preset"], str(self.path.parent))

    def describe(self) -> str:
        """One sentence on how the net was trained, from its results file."""
        r, d = self.result, self.result["data"]
        kind = "a smoke run" if self.smoke else f"a `{r['preset']}` run"
        return (
            f"`{self.path.name}` is {self.name} ({r['params']:,} parameters), from {kind} "
            f"(`{r['run_id']}`) on {self.device}: {self.epochs} epoch(s) on {d['n_train']:,} "
            f"training images of `{d['source']}`, centre-crop top-1 test error "
            f"{self.test_error:.1f} % on {d['n_test']:,} test images."
        )

    def model(self) -> VGG:
        """The net, in fp32 and eval mode, on the CPU."""
        return load_model(self.path).eval()


def find_saved_nets(folder: Path = MODELS) -> list[SavedNet]:
    """Every ``*.pt`` in ``folder`` with a results file beside it, best first.

    Best: not a smoke run, then the most epochs, then the lowest centre-crop test error.
    """
    found = []
    for path in sorted(Path(folder).glob("*.pt")):
        if path.with_suffix(".json").is_file():
            found.append(SavedNet(path, load_result(path.with_suffix(".json"))))
    error = [c.test_error if not math.isnan(c.test_error) else math.inf for c in found]
    order = sorted(range(len(found)), key=lambda i: (found[i].smoke, -found[i].epochs, error[i]))
    return [found[i] for i in order]


def find_saved_net(folder: Path = MODELS) -> SavedNet:
    """The best saved net in ``folder`` (see ``find_saved_nets``)."""
    found = find_saved_nets(folder)
    if not found:
        raise FileNotFoundError(
            f"no saved net with a results file in {folder}: save one with "
            "`python -m vggrepro train ... --save-model M.pt`, then "
            "`python -m vggrepro export M.pt results/models/NAME.pt` and copy the run's "
            "results file to results/models/NAME.json"
        )
    return found[0]


def saved_net_warning(ck: SavedNet) -> str:
    """A MyST warning box when the net is a smoke model or under-trained (empty otherwise)."""
    if not ck.undertrained:
        return ""
    if ck.smoke:
        head = "**A smoke model, not a trained net.**"
        tail = (
            "Its pictures show what the code draws, not what VGG learns, and no verdict on the "
            "claim can be drawn from them."
        )
    else:
        head = "**An under-trained net.**"
        tail = (
            f"Its run stopped before the end of its budget of {ck.result['config']['epochs']} "
            "epochs; read its pictures and numbers as those of a partly trained net."
        )
    return f":::{{warning}}\n{head} {ck.describe()} {tail}\n:::"


# --- images ---------------------------------------------------------------------------------


def data_source() -> str | None:
    """The CIFAR-10 source to use offline: ``$VGGREPRO_DATA``, else torchvision's copy if it
    is already downloaded, else None (no download is ever attempted)."""
    if os.environ.get("VGGREPRO_DATA"):
        return os.environ["VGGREPRO_DATA"]
    downloaded = cache_folder().expanduser() / "torchvision" / TORCHVISION_FOLDER
    return "torchvision" if downloaded.is_dir() else None


def load_data() -> CIFAR10 | None:
    """CIFAR-10 from ``data_source()``, or None when there is none."""
    source = data_source()
    return None if source is None else load_cifar10(source, progress=False)


def synthetic_images(n: int, seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uint8 images (n, 3, size, size) of simple patterns, and their kind (an index into
    ``SYNTHETIC_KINDS``): sinusoidal gratings at a random orientation and period, discs,
    straight colour edges at a random angle, and checkerboards, in random colour pairs."""
    g = torch.Generator().manual_seed(seed)
    u = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(u, u, indexing="ij")
    images, kinds = [], []
    for i in range(n):
        kind = i % len(SYNTHETIC_KINDS)
        a, b = torch.rand(2, 3, 1, 1, generator=g) * 255
        angle, scale = (torch.rand(2, generator=g) * torch.tensor([math.pi, 1.0])).tolist()
        along = xx * math.cos(angle) + yy * math.sin(angle)
        if kind == 0:
            mask = 0.5 + 0.5 * torch.sin(along * math.pi * (2 + 4 * scale))
        elif kind == 1:
            mask = ((xx**2 + yy**2).sqrt() < 0.3 + 0.5 * scale).float()
        elif kind == 2:
            mask = (along > scale - 0.5).float()
        else:
            cells = 2 + int(scale * 6)
            mask = (((xx + 1) * cells / 2).floor() + ((yy + 1) * cells / 2).floor()) % 2
        images.append((a * mask + b * (1 - mask)).round().clamp(0, 255).to(torch.uint8))
        kinds.append(kind)
    return torch.stack(images), torch.tensor(kinds)


def _run_split(ck: SavedNet, data: CIFAR10) -> Split:
    """The run's own split of ``data`` (validation hold-out, subsets, channel statistics)."""
    return prepare(data, TrainConfig.from_dict(ck.result["config"]), torch.device("cpu"))


def training_stats(ck: SavedNet, data: CIFAR10) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-channel mean and std the run normalised with, recomputed from ``data``."""
    split = _run_split(ck, data)
    return split.mean, split.std


def same_data(ck: SavedNet, data: CIFAR10) -> bool:
    """Whether ``data`` is the copy of CIFAR-10 the run was trained on (same checksum)."""
    return data.checksum == ck.result["data"]["checksum"]


@dataclass
class ProbeImages:
    """Normalised images for the probes: class means from ``fit``, accuracy on ``test``."""

    fit_x: torch.Tensor
    fit_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    test_raw: torch.Tensor  # uint8, for display


def probe_images(
    ck: SavedNet, data: CIFAR10, n_fit: int = 2000, n_test: int = 2000, seed: int = 0
) -> ProbeImages:
    """Images for the class means from the run's held-out validation split (never trained
    on), test images from the whole test split, both normalised as in training."""
    split = _run_split(ck, data)
    val_x, val_y = split.val
    fit = random_subset(n_fit, len(val_y), seed)
    test = random_subset(n_test, len(data.test_labels), seed)
    raw = data.test_images[test]
    return ProbeImages(
        normalise(val_x[fit], split.mean, split.std),
        val_y[fit],
        normalise(raw, split.mean, split.std),
        data.test_labels[test],
        raw,
    )


@dataclass
class Sample:
    """Images to look at: raw uint8 for display, normalised for the net, and a name each."""

    raw: torch.Tensor
    x: torch.Tensor
    names: list[str]
    synthetic: bool


def sample_images(ck: SavedNet, data: CIFAR10 | None, n: int, seed: int = 0) -> Sample:
    """``n`` test images, normalised as in training; without data, ``n`` synthetic patterns
    (``synthetic_images``) normalised with their own channel statistics."""
    if data is None:
        raw, kinds = synthetic_images(n, seed)
        mean, std = channel_stats(raw)
        return Sample(raw, normalise(raw, mean, std), [SYNTHETIC_KINDS[k] for k in kinds], True)
    mean, std = training_stats(ck, data)
    pick = random_subset(n, len(data.test_labels), seed)
    raw = data.test_images[pick]
    names = [data.classes[c] for c in data.test_labels[pick]]
    return Sample(raw, normalise(raw, mean, std), names, False)


# --- the net's layers -----------------------------------------------------------------------


def first_conv(model: VGG) -> nn.Conv2d:
    """The net's first convolution."""
    return next(m for m in model.features if isinstance(m, nn.Conv2d))


def first_layer_filters(model: VGG, per_filter: bool = True) -> torch.Tensor:
    """The first conv's weights (C, 3, k, k) mapped to [0, 1] for display: 0.5 is zero, and
    each filter (or, with ``per_filter=False``, the whole bank) is scaled by its largest
    absolute weight."""
    w = first_conv(model).weight.detach().float()
    dims = (1, 2, 3) if per_filter else (0, 1, 2, 3)
    peak = w.abs().amax(dim=dims, keepdim=True).clamp_min(1e-12)
    return 0.5 + 0.5 * w / peak


def filter_energy(weight: torch.Tensor) -> pd.DataFrame:
    """Split each filter's squared weights (C, 3, k, k) into four orthogonal parts:

    - ``flat grey``: the same weight everywhere (brightness);
    - ``flat colour``: constant over space, varying across the colour channels;
    - ``grey pattern``: varying over space, the same in every channel (edges, lines in
      brightness);
    - ``colour pattern``: the rest (spatial structure that differs between channels).

    One row per filter, shares summing to one. For weights drawn independently the expected
    shares are 1/27, 2/27, 8/27 and 16/27 (for 3x3 kernels).
    """
    w = weight.detach().double()
    spatial = w.mean(dim=(2, 3), keepdim=True)  # (C, 3, 1, 1)
    grey = spatial.mean(dim=1, keepdim=True)
    pattern = w - spatial
    grey_pattern = pattern.mean(dim=1, keepdim=True).expand_as(w)
    parts = {
        "flat grey": grey.expand_as(w),
        "flat colour": (spatial - grey).expand_as(w),
        "grey pattern": grey_pattern,
        "colour pattern": pattern - grey_pattern,
    }
    total = w.square().sum(dim=(1, 2, 3)).clamp_min(1e-30)
    return pd.DataFrame(
        {k: (v.square().sum(dim=(1, 2, 3)) / total).numpy() for k, v in parts.items()}
    )


def iid_energy(kernel: int = 3, channels: int = 3) -> dict[str, float]:
    """Expected ``filter_energy`` shares for independent, identically distributed weights."""
    n = kernel * kernel * channels
    return {
        "flat grey": 1 / n,
        "flat colour": (channels - 1) / n,
        "grey pattern": (kernel * kernel - 1) / n,
        "colour pattern": (kernel * kernel - 1) * (channels - 1) / n,
    }


def stage_layers(model: VGG) -> dict[int, int]:
    """Index in ``model.features`` of the last ReLU of each stage (1..5)."""
    last: dict[int, int] = {}
    for i, layer in enumerate(model.spec.features()):
        if layer.kind == "relu":
            last[layer.stage] = i
    return last


def stage_fields(model: VGG) -> pd.DataFrame:
    """Per stage: channels, map side at the training resolution, and receptive field side."""
    table = receptive_fields(model.spec)
    table = table[table["part"] == "features"].set_index("index")
    rows = []
    for stage, index in stage_layers(model).items():
        c, h, _ = table.loc[index, "out_shape"]
        rows.append({"stage": stage, "channels": c, "map": h, "rf": int(table.loc[index, "rf"])})
    return pd.DataFrame(rows)


def _run_stages(model: VGG, images: torch.Tensor, reduce: bool) -> dict[int, torch.Tensor]:
    outputs: dict[int, torch.Tensor] = {}

    def keep(stage: int):
        def hook(_module: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
            outputs[stage] = out.mean(dim=(2, 3)) if reduce else out.detach().clone()

        return hook

    handles = [
        model.features[i].register_forward_hook(keep(s)) for s, i in stage_layers(model).items()
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model.features(images)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return outputs


def stage_outputs(model: VGG, images: torch.Tensor) -> dict[int, torch.Tensor]:
    """Feature maps (N, C, H, W) at the end of each stage (its last ReLU), in eval mode."""
    return _run_stages(model, images, reduce=False)


def stage_means(model: VGG, images: torch.Tensor, batch_size: int = 250) -> dict[int, torch.Tensor]:
    """Spatial mean of every channel at the end of each stage: (N, C) per stage, batched."""
    parts = [_run_stages(model, x, reduce=True) for x in images.split(batch_size)]
    return {s: torch.cat([p[s] for p in parts]) for s in parts[0]}


def top_k(means: torch.Tensor, channels: list[int], k: int) -> torch.Tensor:
    """For each channel, the indices of the ``k`` images with the highest mean activation,
    highest first (ties broken by the lower index): (len(channels), k)."""
    scores = means[:, channels].T.double()  # (channels, N)
    n = scores.shape[1]
    # a stable descending sort: lower index wins among equal scores
    order = torch.argsort(-scores, dim=1, stable=True)
    return order[:, : min(k, n)]


def top_activating(
    model: VGG, images: torch.Tensor, stage: int, channels: list[int], k: int
) -> torch.Tensor:
    """Indices into ``images`` of the ``k`` images that excite each of ``channels`` of
    ``stage`` most (mean over positions), highest first: (len(channels), k)."""
    return top_k(stage_means(model, images)[stage], channels, k)


def pick_channels(means: torch.Tensor, n: int, seed: int = 0) -> list[int]:
    """``n`` channels drawn at random (``seed``) among those whose mean activation varies
    across images; dead or constant channels only when there are too few others."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(means.shape[1], generator=g)
    varies = means.double().std(dim=0)[order] > 0
    return torch.cat([order[varies], order[~varies]])[:n].tolist()


def class_purity(means: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Per channel, the share of its ``k`` top images that belong to their commonest class;
    NaN for channels whose activation does not vary across images."""
    top = top_k(means, list(range(means.shape[1])), k)
    counts = torch.nn.functional.one_hot(labels[top], int(labels.max()) + 1).sum(dim=1)
    purity = counts.amax(dim=1).double() / top.shape[1]
    purity[means.double().std(dim=0) == 0] = math.nan
    return purity


def ncm_accuracy(
    fit_x: torch.Tensor, fit_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor
) -> float:
    """Nearest-class-mean accuracy of L2-normalised features (rows of ``*_x``)."""
    fit = torch.nn.functional.normalize(fit_x.double(), dim=1)
    test = torch.nn.functional.normalize(test_x.double(), dim=1)
    classes = torch.unique(fit_y)
    centres = torch.stack([fit[fit_y == c].mean(0) for c in classes])
    predicted = classes[torch.cdist(test, centres).argmin(1)]
    return float((predicted == test_y).double().mean())


def random_twin(model: VGG, init: str, seed: int = 0) -> VGG:
    """The same architecture with random weights (the control), in eval mode.

    Drawn as ``train.train`` draws its starting weights (seed, build, initialise), so with the
    run's seed and scheme it is the net the run started from, unless it was warm-started.
    """
    torch.manual_seed(seed)
    return initialise(build(model.spec), init).eval()


def weight_change(model: VGG, start: VGG) -> dict[int, float]:
    """Per stage, the norm of the change of its conv weights from ``start`` relative to their
    norm in ``start``."""
    plan = model.spec.features()
    change: dict[int, list[float]] = {}
    for layer, m, m0 in zip(plan, model.features, start.features, strict=True):
        if layer.kind == "conv":
            w, w0 = m.weight.detach().double(), m0.weight.detach().double()
            sums = change.setdefault(layer.stage, [0.0, 0.0])
            sums[0] += float((w - w0).square().sum())
            sums[1] += float(w0.square().sum())
    return {s: math.sqrt(d / n) for s, (d, n) in change.items()}


def chance_purity(labels: torch.Tensor, k: int, draws: int = 5000, seed: int = 0) -> float:
    """Expected top-``k`` class purity of a channel that picks its images at random."""
    g = torch.Generator().manual_seed(seed)
    picks = torch.rand(draws, len(labels), generator=g).argsort(dim=1)[:, :k]
    counts = torch.nn.functional.one_hot(labels[picks], int(labels.max()) + 1).sum(dim=1)
    return float(counts.amax(dim=1).double().mean() / k)


def probe_table(
    model: VGG, control: VGG, images: ProbeImages, k: int = 20, batch_size: int = 250
) -> pd.DataFrame:
    """Per stage: geometry, nearest-class-mean accuracy and top-k class purity of the trained
    net and of its random twin, with binomial standard errors of the accuracies."""
    rows = stage_fields(model).to_dict("records")
    n = len(images.test_y)
    nets = {"trained": model, "random": control}
    fit = {name: stage_means(net, images.fit_x, batch_size) for name, net in nets.items()}
    test = {name: stage_means(net, images.test_x, batch_size) for name, net in nets.items()}
    for row in rows:
        s = row["stage"]
        for name in nets:
            acc = ncm_accuracy(fit[name][s], images.fit_y, test[name][s], images.test_y)
            purity = class_purity(test[name][s], images.test_y, k)
            row[f"ncm {name}"] = acc
            row[f"ncm {name} se"] = math.sqrt(acc * (1 - acc) / n)
            row[f"purity {name}"] = float(np.nanmean(purity.numpy()))
            row[f"dead {name}"] = int(purity.isnan().sum())
        row["n_test"] = n
    return pd.DataFrame(rows)


PROBE_IMAGES = 2000
"""Held-out images for the class means, and test images for the probes, as the chapter uses."""
PROBE_K = 20
"""Top images per channel for the purity probe, as the chapter uses."""


def record_probe(
    ck: SavedNet,
    data: CIFAR10,
    n_fit: int = PROBE_IMAGES,
    n_test: int = PROBE_IMAGES,
    k: int = PROBE_K,
) -> dict:
    """Run ``probe_table`` on the saved net against its random twin (``random_twin``, with the
    run's seed and scheme) on the run's own images, and record it, with the data, wall time and
    provenance, under ``probe`` in the net's results file; return that file's new content.

    The book reads the probe from there (``recorded_probe``), so a build needs no data. Raises
    ``ValueError`` for a smoke model and for data other than the run's.
    """
    if ck.smoke:
        raise ValueError(f"{ck.path}: a smoke model has no features to probe")
    if not same_data(ck, data):
        raise ValueError(
            f"{ck.path} was trained on other data ({data.source} is not the run's "
            f"{ck.result['data']['source']}): its held-out images cannot be rebuilt"
        )
    started, t0 = now(), time.perf_counter()
    model, config = ck.model(), ck.result["config"]
    control = random_twin(model, config["init"], seed=config["seed"])
    images = probe_images(ck, data, n_fit, n_test)
    table = probe_table(model, control, images, k=k)
    result = {**ck.result, "probe": {
        "rows": table.to_dict("records"),
        "n_fit": len(images.fit_y),
        "n_test": len(images.test_y),
        "k": k,
        "chance_purity": chance_purity(images.test_y, k),
        "data": {"source": data.source, "checksum": data.checksum},
        "started": started,
        "finished": now(),
        "wall_time_s": time.perf_counter() - t0,
        "provenance": provenance(torch.device("cpu")),
    }}  # fmt: skip
    save_result(result, ck.path.with_suffix(".json"))
    return result


def recorded_probe(ck: SavedNet) -> pd.DataFrame | None:
    """The probe table recorded in the net's results file (``record_probe``), None if none is;
    ``probe_verdict`` reports None as not testable."""
    recorded = ck.result.get("probe")
    return None if recorded is None else pd.DataFrame(recorded["rows"])


def _gap(a: float, b: float, se_a: float, se_b: float) -> float:
    """(a - b) in standard errors of the difference (infinite when both are exact)."""
    return t_statistic(a - b, math.sqrt(se_a**2 + se_b**2))


def probe_verdict(table: pd.DataFrame | None, smoke: bool, z: float | None = None) -> Verdict:
    """The verdict on "deep layers see whole objects", as far as the probe can tell.

    Supported when the trained net's nearest-class-mean accuracy at the last stage beats both
    its first stage and the random twin's last stage by more than ``z`` standard errors, and
    never drops by more than ``z`` standard errors from one stage to the next; partly
    supported when only the first two hold; otherwise not supported. ``z`` is the book's one
    decision rule by default (``significance.z_critical``). ``table`` is None when no probe is
    recorded for the net (``recorded_probe``).
    """
    if smoke:
        return Verdict(Status.SMOKE, "not testable here: the saved net is a smoke model")
    if table is None:
        return Verdict(
            Status.NOT_TESTABLE,
            "not testable here: no probe is recorded for the saved net "
            "(`python -m vggrepro probe`)",
        )
    z = z_critical() if z is None else z
    t = table.sort_values("stage")
    acc, se = t["ncm trained"].to_numpy(), t["ncm trained se"].to_numpy()
    rand, rand_se = t["ncm random"].iloc[-1], t["ncm random se"].iloc[-1]
    rises = _gap(acc[-1], acc[0], se[-1], se[0]) > z
    beats_random = _gap(acc[-1], rand, se[-1], rand_se) > z
    drops = [_gap(acc[i], acc[i + 1], se[i], se[i + 1]) > z for i in range(len(acc) - 1)]
    if rises and beats_random and not any(drops):
        return Verdict(Status.SUPPORTED, "supported")
    if rises and beats_random:
        return Verdict(Status.PARTLY, "partly supported")
    return Verdict(Status.CONTRADICTED, "not supported")
