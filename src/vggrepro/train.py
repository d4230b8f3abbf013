"""Train a reduced VGG on CIFAR-10 with the paper's recipe; one code path for CPU and GPU.

The recipe (the paper's section 3.1): SGD, momentum 0.9, weight decay 5e-4, batch 256,
dropout 0.5 on the two hidden FC layers, learning rate 1e-2 divided by 10 when validation
accuracy stops improving (at most three times), here within a fixed epoch budget; the CPU
tier's preset divides it at fixed fractions of a shorter budget instead. Tensors are
channels_last on every device; the training steps run in bf16 autocast on CUDA, and on the CPU
too with ``cpu_bf16`` (optionally ``torch.compile``d). A checkpoint after every epoch lets an
interrupted run resume where it stopped: on the CPU to a bitwise identical result (with one
thread); on CUDA cuDNN's autotuned kernels are not deterministic.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from vggrepro.configs import VGGSpec
from vggrepro.data import CIFAR10, channel_stats, random_subset, split_validation
from vggrepro.evaluate import accuracy, evaluate
from vggrepro.initialisation import initialise, warm_start
from vggrepro.loader import DeviceLoader
from vggrepro.models import VGG, build
from vggrepro.provenance import now, pick_device, provenance
from vggrepro.results import SCHEMA_VERSION, save_result

SCHEDULES = ("plateau", "step")
DIVERGED_LOSS = 100.0
"""A mean training loss above this (or not finite) stops the run as diverged."""


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
    def from_dict(cls, config: dict) -> TrainConfig:
        """The configuration a results file recorded (options added since take defaults)."""
        names = {f.name for f in fields(cls)}
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
    names = {f.name for f in fields(TrainConfig)}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown training options {sorted(unknown)}")
    options = {**PRESETS[name], "preset": name, **overrides}
    if not options.get("batch_norm", False) and name in PLAIN_LR and "lr" not in overrides:
        options["lr"] = PLAIN_LR[name]
    return TrainConfig(**options)


@dataclass
class Split:
    """The tensors of one run, on its device: train / validation / test."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    sizes: dict[str, int] = field(default_factory=dict)


def _subset(x: torch.Tensor, y: torch.Tensor, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random subset of ``n`` examples (all of them when ``n`` is None)."""
    if n is None or n >= len(y):
        return x, y
    keep = random_subset(n, len(y))
    return x[keep], y[keep]


def prepare(data: CIFAR10, cfg: TrainConfig, device: torch.device) -> Split:
    """Hold out the validation split, take subsets, compute channel statistics, move to device."""
    try:
        train_x, train_y, val_x, val_y = split_validation(data, cfg.n_val, seed=0)
    except ValueError as e:
        raise ValueError(f"n_val={cfg.n_val} validation images: {e}") from None
    train = _subset(train_x, train_y, cfg.n_train)
    if len(train[1]) < cfg.batch_size:
        raise ValueError(
            f"{len(train[1])} training images (after holding out n_val={cfg.n_val} for "
            f"validation) make no full batch of {cfg.batch_size}; lower batch_size or n_val, or "
            "use more images"
        )
    test = _subset(data.test_images, data.test_labels, cfg.n_test)
    mean, std = channel_stats(train[0])
    parts = [tuple(t.to(device) for t in part) for part in (train, (val_x, val_y), test)]
    sizes = {"n_train": len(train[1]), "n_val": len(val_y), "n_test": len(test[1])}
    return Split(*parts, mean=mean, std=std, sizes=sizes)


def save_model(model: VGG, path: Path, dtype: torch.dtype = torch.float32) -> Path:
    """Save a trained net (its spec and weights, cast to ``dtype``) for reuse."""
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    _atomic_save({"spec": asdict(model.spec), "state_dict": state}, Path(path))
    return Path(path)


def weights_digest(model: VGG) -> str:
    """sha256 over a net's parameters and buffers in fp32, in state-dict order: the results file
    records it, so that a saved net can be matched to the run that trained it."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def load_model(path: Path, device: str | torch.device = "cpu") -> VGG:
    """Rebuild a net saved by ``save_model`` (weights in fp32)."""
    saved = torch.load(path, map_location=device, weights_only=True)
    model = build(VGGSpec(**{k: v for k, v in saved["spec"].items() if k != "stages"}))
    model.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})
    return model.to(device)


def _atomic_save(obj: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _scheduler(cfg: TrainConfig, opt: torch.optim.Optimizer) -> object:
    """The learning-rate schedule: divided on a validation plateau, or at fixed epochs."""
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, cfg.drop_epochs(), gamma=cfg.lr_factor)
    min_lr = cfg.lr
    for _ in range(cfg.max_drops):  # the scheduler's own product, so the floor is hit exactly
        min_lr *= cfg.lr_factor
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=cfg.lr_factor, patience=cfg.patience, min_lr=min_lr, eps=0.0
    )


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def train(
    cfg: TrainConfig,
    data: CIFAR10,
    *,
    run_id: str,
    grid: str = "single",
    out: Path | None = None,
    checkpoint: Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    model_path: Path | None = None,
    position: int = 0,
) -> dict:
    """Train one run, evaluate it with every protocol, write its results file to ``out``.

    ``checkpoint`` is written after every epoch; if it exists for the same configuration the
    run resumes from it. ``model_path`` receives the final weights (``save_model``);
    ``position`` is the progress bar's line (one per parallel worker).
    Returns the results dictionary.
    """
    if cfg.n_val < len(data.classes):
        raise ValueError(
            f"n_val={cfg.n_val}: validation needs at least one image per class "
            f"({len(data.classes)}); with none, validation accuracy would read 0 every epoch"
        )
    started, t0 = now(), time.perf_counter()
    device = pick_device(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    split = prepare(data, cfg, device)

    torch.manual_seed(cfg.seed)
    model = initialise(build(cfg.spec(len(data.classes))), cfg.init)
    if cfg.warm_start:
        warm_start(model, load_model(Path(cfg.warm_start)))
    model = model.to(device, memory_format=torch.channels_last)  # faster on the CPU and GPU
    step_model = torch.compile(model) if cfg.compile else model
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    scheduler = _scheduler(cfg, opt)
    common = {"mean": split.mean, "std": split.std, "channels_last": True}
    train_batches = DeviceLoader(
        *split.train, cfg.batch_size, train=True, crop_padding=cfg.crop_padding, flip=cfg.flip,
        jitter=cfg.jitter, drop_last=True, seed=cfg.seed, **common,
    )  # fmt: skip
    val_batches = DeviceLoader(*split.val, cfg.eval_batch_size, train=False, **common)
    test_batches = DeviceLoader(*split.test, cfg.eval_batch_size, train=False, **common)

    history: list[dict] = []
    status, diverged_epoch, train_time, start_epoch = "completed", None, 0.0, 0
    config = asdict(cfg)
    same_run = {"config": config, "device_type": device.type, "data": data.checksum}
    if checkpoint is not None and checkpoint.exists():
        # On the CPU: RNG states must stay CPU tensors; the loads below move the rest.
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        except Exception as e:  # truncated or not a checkpoint, whatever the error
            raise ValueError(
                f"{checkpoint}: unreadable checkpoint ({type(e).__name__}); delete it to start "
                "this run over"
            ) from None
        if all(state.get(k) == v for k, v in same_run.items()):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            train_batches.load_state_dict(state["loader"])
            _set_rng_state(state["rng"], device)
            history, train_time, start_epoch = state["history"], state["train_time"], state["epoch"]
            t0 -= state["wall_time"]  # the wall time counts the interrupted process too

    steps = len(train_batches)
    bar = tqdm(
        total=cfg.epochs * steps, initial=start_epoch * steps, desc=run_id, disable=not progress,
        unit="step", leave=False, position=position,
    )  # fmt: skip
    for epoch in range(start_epoch, cfg.epochs):
        if stalled(history, cfg.stall_epochs, len(data.classes)):
            status = "stalled"
            break
        tick = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        hits = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for i, (x, y) in enumerate(train_batches, start=1):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda or cfg.cpu_bf16):
                logits = step_model(x)
                loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(y)
            hits += (logits.argmax(1) == y).sum()
            seen += len(y)
            bar.update()
            if i % 50 == 0 or i == steps:  # one host sync every 50 steps
                mean_loss = loss_sum.item() / seen
                if not math.isfinite(mean_loss) or mean_loss > DIVERGED_LOSS:
                    break
                rate = seen / (time.perf_counter() - tick)
                acc = hits.item() / seen
                bar.set_postfix(
                    epoch=epoch + 1, loss=f"{mean_loss:.3f}", acc=f"{acc:.3f}", img_s=f"{rate:.0f}"
                )
        mean_loss = loss_sum.item() / seen
        train_time += time.perf_counter() - tick  # training steps only, not validation
        if not math.isfinite(mean_loss) or mean_loss > DIVERGED_LOSS:
            status, diverged_epoch = "diverged", epoch + 1
            break
        val_acc = accuracy(model, val_batches)
        lr = opt.param_groups[0]["lr"]
        if cfg.schedule == "plateau":
            scheduler.step(val_acc)
        else:
            scheduler.step()
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": mean_loss,
                "train_acc": hits.item() / seen,
                "val_acc": val_acc,
                "lr": lr,
                "seconds": time.perf_counter() - tick,
            }
        )
        bar.set_postfix(epoch=epoch + 1, loss=f"{mean_loss:.3f}", val=f"{val_acc:.3f}")
        if checkpoint is not None:
            _atomic_save(
                {
                    **same_run,
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "loader": train_batches.state_dict(),
                    "rng": _rng_state(device),
                    "history": history,
                    "train_time": train_time,
                    "wall_time": time.perf_counter() - t0,
                },
                checkpoint,
            )
    bar.close()

    trained = status != "diverged"  # a stalled net is tested and kept: its failure is a result
    test = evaluate(model, test_batches, cfg.eval_scales) if trained else {}
    if model_path is not None and trained:
        save_model(model, model_path)
    images = split.sizes["n_train"] // cfg.batch_size * cfg.batch_size * len(history)
    result = {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "grid": grid,
        "preset": cfg.preset,
        "smoke": cfg.smoke,
        "seed": cfg.seed,
        "status": status,
        "diverged_epoch": diverged_epoch,
        "config": config,
        "params": sum(p.numel() for p in model.parameters()),
        "history": history,
        "test": test,
        "wall_time_s": time.perf_counter() - t0,
        "train_time_s": train_time,
        "images_per_s": images / train_time if train_time > 0 else 0.0,
        "started": started,
        "finished": now(),
        "provenance": provenance(device),
        "data": {"source": data.source, "checksum": data.checksum, **split.sizes},
        "model_sha256": weights_digest(model) if trained else None,
    }
    if out is not None:
        save_result(result, out)
    return result
