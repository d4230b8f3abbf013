"""What defines a training run: ``TrainConfig``, the named presets of each CIFAR tier, the rule
that stops a run stuck at chance, and ``ImageNetConfig``, the paper's full recipe (the
``imagenet`` preset).

Pure data and arithmetic (no torch): the report reads configurations without loading the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from vggrepro.arch.configs import VGGSpec, resolve

SCHEDULES = ("plateau", "step")
SHALLOW = ("A", "A-LRN")
"""The nets the paper trains from random weights; it starts the deeper ones from a trained A."""
DIVERGED_LOSS = 100.0
"""A mean training loss above this (or not finite) stops the run as diverged."""


def diverged(mean_loss: float) -> bool:
    """Whether a mean training loss says the run has diverged (``DIVERGED_LOSS``)."""
    return not math.isfinite(mean_loss) or mean_loss > DIVERGED_LOSS


STALL_MARGIN = 0.01
"""Training accuracy at most this far above chance (1 / classes) counts as "at chance"."""


def stalled(history: list[dict], epochs: int | None, classes: int) -> bool:
    """Whether the last ``epochs`` epochs of ``history`` all trained at chance accuracy."""
    recent = history[-epochs:] if epochs else []
    return len(recent) == epochs and all(
        h["train_acc"] <= 1 / classes + STALL_MARGIN for h in recent
    )


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run; recorded verbatim in its results file."""

    arch: str = "vgg11"
    batch_norm: bool = False
    init: str = "kaiming"
    warm_start: str | None = None  # path of a trained net A saved by ``save_model``
    width: float = 0.5
    fc_width: int = 512
    dropout: float = 0.5
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_factor: float = 0.1
    # "plateau": divide by 1/lr_factor when validation accuracy stalls for ``patience`` epochs,
    # at most ``max_drops`` times (the paper); "step": divide at the fixed ``milestones``,
    # fractions of the epoch budget, so that every drop happens within a short budget.
    schedule: str = "plateau"
    patience: int = 2
    max_drops: int = 3
    milestones: tuple[float, ...] = ()
    crop_padding: int = 4
    flip: bool = True
    jitter: tuple[int, int] | None = None
    n_val: int = 5000
    n_train: int | None = None  # a random subset of the training split (smoke runs)
    n_test: int | None = None
    # Multiples of the training size, so the last map tiles evenly: score maps 1x1, 2x2, 3x3
    # (at 48 px the fifth pool would drop the third row and column of a 3x3 map).
    eval_scales: tuple[int, ...] = (32, 64, 96)
    eval_batch_size: int = 1000
    seed: int = 0
    # Stop as "stalled" once training accuracy has stayed at chance (within ``STALL_MARGIN``)
    # for this many epochs in a row: the run has answered "does it train?" and the rest of its
    # budget would be spent for nothing. None: never stop early.
    stall_epochs: int | None = None
    compile: bool = False
    # Training steps in bf16 autocast on the CPU as well (always on CUDA): much faster where
    # the CPU has AMX or AVX-512 bf16 units, slower where it must emulate them.
    cpu_bf16: bool = False
    preset: str = "reduced"
    smoke: bool = False

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        if (self.schedule == "step") != bool(self.milestones):
            raise ValueError("milestones are given exactly when the schedule is 'step'")
        if self.n_train is not None and self.n_train < self.batch_size:
            raise ValueError(
                f"n_train={self.n_train} training images make no full batch of "
                f"{self.batch_size}; lower batch_size or use more images"
            )
        if self.stall_epochs is not None and self.stall_epochs < 1:
            raise ValueError(f"stall_epochs must be None or at least 1, got {self.stall_epochs}")
        if list(self.milestones) != sorted(set(self.milestones)) or not all(
            0 < m < 1 for m in self.milestones
        ):
            raise ValueError(f"milestones {self.milestones} must rise strictly within (0, 1)")

    @classmethod
    def options(cls) -> set[str]:
        """The names of every training option (the fields)."""
        return {f.name for f in fields(cls)}

    @classmethod
    def from_dict(cls, config: dict) -> TrainConfig:
        """The configuration a results file recorded (options added since take defaults)."""
        names = cls.options()
        return cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k in names}
        )

    def drop_epochs(self) -> list[int]:
        """For the step schedule: after how many epochs the learning rate is divided."""
        return [max(1, round(m * self.epochs)) for m in self.milestones]

    def planned_drops(self) -> int:
        """How many learning-rate drops the schedule makes within the budget (at most)."""
        if self.schedule == "step":
            return len({e for e in self.drop_epochs() if e < self.epochs})
        return self.max_drops

    def spec(self, num_classes: int = 10, resolution: int = 32) -> VGGSpec:
        """The net this run trains."""
        return VGGSpec(
            self.arch,
            num_classes=num_classes,
            resolution=resolution,
            width=self.width,
            fc_width=self.fc_width,
            batch_norm=self.batch_norm,
            dropout=self.dropout,
        )


PRESETS: dict[str, dict] = {
    # The reproduction: 32 x 32 CIFAR images through all five pooling stages (the last map is
    # 1 x 1), conv widths halved (32..256 channels) and an FC head of 512, so that a VGG-19
    # costs about a quarter of its full-width FLOPs at this size and the depth grid fits a
    # few minutes of one H100.
    # Like every training tier, it stops a run whose training accuracy stays at chance for 5
    # epochs in a row (``TrainConfig.stall_epochs``).
    "reduced": {"stall_epochs": 5},
    # The CPU tier: what two CPU cores train on the full training set in about an hour and a
    # half for the four batch-norm depths and three seeds, chosen by measurement (the training
    # chapter and benchmarks/cpu_tier.py): conv widths a quarter of the paper's (16..128
    # channels), an FC head of 512, batch 128, bf16 autocast (AMX), lr 0.05 divided by 10 at
    # 60 % and 85 % of 22 epochs (after epochs 13 and 19; earlier drops, at half and three
    # quarters of 20 epochs, left VGG-11 short of 80 % in trials). Only the centre and flip
    # protocols are evaluated (the larger test scales cost several epochs' worth of CPU time each).
    # Nets without batch norm train at the paper's rate instead (``PLAIN_LR``).
    "cpu": {
        "width": 1 / 4,
        "fc_width": 512,
        "epochs": 22,
        "batch_size": 128,
        "lr": 0.05,
        "schedule": "step",
        "milestones": (0.6, 0.85),
        "eval_scales": (),
        "cpu_bf16": True,
        "stall_epochs": 5,
    },
    # CPU smoke test: a few hundred images, one epoch, tiny widths. Never a result to cite.
    "smoke": {
        "width": 1 / 16,
        "fc_width": 32,
        "epochs": 1,
        "batch_size": 64,
        "n_train": 512,
        "n_val": 250,
        "n_test": 250,
        "eval_scales": (32, 64),
        "eval_batch_size": 250,
        "smoke": True,
    },
}


# The learning rate of nets without batch norm, per preset, where it differs from the preset's:
# at the CPU tier's 0.05 one VGG-11 seed in three stayed at chance (results/cpu/lrn at
# 2498031), so plain nets take the paper's 0.01, which every GPU-tier plain net trained at.
PLAIN_LR: dict[str, float] = {"cpu": 1e-2}


def preset(name: str, **overrides) -> TrainConfig:
    """A ``TrainConfig`` from a named preset, with ``overrides`` applied.

    A net without batch norm takes the preset's ``PLAIN_LR`` unless ``lr`` is given.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    unknown = set(overrides) - TrainConfig.options()
    if unknown:
        raise ValueError(f"unknown training options {sorted(unknown)}")
    options = {**PRESETS[name], "preset": name, **overrides}
    if not options.get("batch_norm", False) and name in PLAIN_LR and "lr" not in overrides:
        options["lr"] = PLAIN_LR[name]
    return TrainConfig(**options)


@dataclass(frozen=True)
class ImageNetConfig:
    """One run of the paper's full recipe on an ImageFolder (ImageNet-style) data set; recorded
    verbatim in its results file. The defaults are the ``imagenet`` preset, the paper's section
    3.1: batch 256, lr 1e-2 divided by 10 on a validation plateau at most three times, momentum
    0.9, weight decay 5e-4, dropout 0.5, 74 epochs, S = 256 (or jittered), 224 crops, flips;
    nets deeper than A start from a trained A (``warm_start``) unless another initialisation is
    chosen. ``batch_size`` is the global batch, split evenly over the processes of a
    distributed run, so the learning rate does not depend on how many there are."""

    arch: str = "vgg11"
    batch_norm: bool = False
    init: str = "paper"
    warm_start: str | None = None  # a trained net A saved by ``save_model`` (deeper nets)
    width: float = 1.0
    fc_width: int = 4096
    dropout: float = 0.5
    epochs: int = 74
    batch_size: int = 256  # global: per process, batch_size / world size
    lr: float = 1e-2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_factor: float = 0.1
    patience: int = 2  # epochs without a better validation accuracy; the paper gives none
    max_drops: int = 3
    # Training images are rescaled isotropically so that their shorter side is S, then cropped
    # at random to ``crop`` x ``crop``: S = ``scale``, or with ``jitter`` a random S in
    # [smin, smax] drawn for each image (the paper's scale jittering, [256, 512]).
    scale: int = 256
    jitter: tuple[int, int] | None = None
    crop: int = 224
    flip: bool = True
    # AlexNet's RGB colour shift: the pixels move along the principal components of the
    # training set's RGB values, by Gaussian amounts of this standard deviation times each
    # component's eigenvalue. None: no colour shift (AlexNet's value is not in the reference
    # file, so no default is typed here; give it with --colour-std).
    colour_std: float | None = None
    # Dense test scales Q; None: the paper's, {S - 32, S, S + 32} for a fixed S and
    # {smin, (smin + smax) / 2, smax} (256, 384, 512) for a jittered one.
    eval_scales: tuple[int, ...] | None = None
    eval_batch_size: int = 64  # per process
    stats_images: int = 10_000  # training images sampled for the mean, std and colour PCA
    n_train: int | None = None  # a fixed random subset of train/ (smoke runs)
    seed: int = 0
    preset: str = "imagenet"
    smoke: bool = False

    def __post_init__(self) -> None:
        if self.crop < 2**5:
            raise ValueError(f"crop {self.crop} is too small for five 2x2 max-pools (>= 32)")
        smallest = self.jitter[0] if self.jitter else self.scale
        if self.jitter is not None and not self.jitter[0] <= self.jitter[1]:
            raise ValueError(f"jitter {self.jitter} must satisfy smin <= smax")
        if smallest < self.crop:
            raise ValueError(f"training scale {smallest} is below the {self.crop} px crop")
        if any(q < self.crop for q in self.test_scales()):
            raise ValueError(
                f"test scales {self.test_scales()} must be at least the {self.crop} px crop; "
                "choose others (--eval-scales)"
            )
        if self.colour_std is not None and self.colour_std < 0:
            raise ValueError(f"colour_std must be non-negative, got {self.colour_std}")
        if resolve(self.arch) not in SHALLOW and self.init == "paper" and not self.warm_start:
            raise ValueError(
                f"{self.arch} with the paper's N(0, 0.01^2) initialisation: the paper starts the "
                "deeper nets from a trained net A (--warm-start A.pt); or choose --init glorot"
            )

    @classmethod
    def options(cls) -> set[str]:
        """The names of every option (the fields)."""
        return {f.name for f in fields(cls)}

    def single_scale(self) -> int:
        """The test scale of the centre crop: S, or the middle of the jittered range (the
        paper's single-scale Q for S in [256, 512] is 384)."""
        return (self.jitter[0] + self.jitter[1]) // 2 if self.jitter else self.scale

    def test_scales(self) -> tuple[int, ...]:
        """The dense multi-scale protocol's Q (the paper's Table 4 rule unless given)."""
        if self.eval_scales is not None:
            return self.eval_scales
        if self.jitter:
            return (self.jitter[0], self.single_scale(), self.jitter[1])
        return (self.scale - 32, self.scale, self.scale + 32)

    def spec(self, num_classes: int = 1000) -> VGGSpec:
        """The net this run trains (input ``crop`` x ``crop``)."""
        return VGGSpec(
            self.arch,
            num_classes=num_classes,
            resolution=self.crop,
            width=self.width,
            fc_width=self.fc_width,
            batch_norm=self.batch_norm,
            dropout=self.dropout,
        )


def imagenet_preset(**overrides) -> ImageNetConfig:
    """The ``imagenet`` preset (``ImageNetConfig``'s defaults) with ``overrides`` applied."""
    unknown = set(overrides) - ImageNetConfig.options()
    if unknown:
        raise ValueError(f"unknown training options {sorted(unknown)}")
    return ImageNetConfig(**overrides)
