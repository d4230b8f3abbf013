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

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from vggrepro.arch.initialisation import initialise, warm_start
from vggrepro.arch.models import VGG, build
from vggrepro.engine.checkpoint import load_checkpoint, save_checkpoint
from vggrepro.engine.data import CIFAR10, channel_stats, random_subset, split_validation
from vggrepro.engine.evaluate import accuracy, evaluate
from vggrepro.engine.loader import DeviceLoader
from vggrepro.engine.nets import load_model, save_model, weights_digest
from vggrepro.engine.presets import TrainConfig, diverged, stalled
from vggrepro.engine.provenance import now, pick_device, provenance
from vggrepro.results.io import save_result
from vggrepro.results.schema import RunResult


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
    """Hold out the validation split (the same images for every seed, so that seeds compare nets
    on one split), take subsets, compute channel statistics, move to device."""
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


def plateau(
    opt: torch.optim.Optimizer, lr: float, factor: float, patience: int, max_drops: int
) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    """The paper's schedule: ``lr`` times ``factor`` whenever validation accuracy (stepped in)
    has not improved for ``patience`` epochs, at most ``max_drops`` times."""
    min_lr = lr
    for _ in range(max_drops):  # the scheduler's own product, so the floor is hit exactly
        min_lr *= factor
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=factor, patience=patience, min_lr=min_lr, eps=0.0
    )


def _scheduler(cfg: TrainConfig, opt: torch.optim.Optimizer) -> object:
    """The learning-rate schedule: divided on a validation plateau, or at fixed epochs."""
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, cfg.drop_epochs(), gamma=cfg.lr_factor)
    return plateau(opt, cfg.lr, cfg.lr_factor, cfg.patience, cfg.max_drops)


@dataclass
class Run:
    """What one run trains with, on its device: the net (and the module that takes the steps,
    compiled or not), the optimiser and schedule, and the three splits' batches."""

    model: VGG
    step: torch.nn.Module
    opt: torch.optim.Optimizer
    scheduler: Any
    train: DeviceLoader
    val: DeviceLoader
    test: DeviceLoader
    device: torch.device
    bf16: bool

    @property
    def parts(self) -> dict[str, Any]:
        """The stateful parts a checkpoint saves, by the names it saves them under."""
        return {"model": self.model, "optimizer": self.opt, "scheduler": self.scheduler,
                "loader": self.train}  # fmt: skip


def setup(cfg: TrainConfig, data: CIFAR10, split: Split, device: torch.device) -> Run:
    """Seed, build and initialise the net (warm-started if asked), its optimiser, schedule and
    batches, in that order (the order fixes what the seed draws)."""
    torch.manual_seed(cfg.seed)
    model = initialise(build(cfg.spec(len(data.classes))), cfg.init)
    if cfg.warm_start:
        warm_start(model, load_model(Path(cfg.warm_start)))
    model = model.to(device, memory_format=torch.channels_last)  # faster on the CPU and GPU
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    common = {"mean": split.mean, "std": split.std, "channels_last": True}
    return Run(
        model=model, step=torch.compile(model) if cfg.compile else model, opt=opt,
        scheduler=_scheduler(cfg, opt),
        train=DeviceLoader(
            *split.train, cfg.batch_size, train=True, crop_padding=cfg.crop_padding,
            flip=cfg.flip, jitter=cfg.jitter, drop_last=True, seed=cfg.seed, **common,
        ),
        val=DeviceLoader(*split.val, cfg.eval_batch_size, train=False, **common),
        test=DeviceLoader(*split.test, cfg.eval_batch_size, train=False, **common),
        device=device, bf16=device.type == "cuda" or cfg.cpu_bf16,
    )  # fmt: skip


def train_step(run: Any, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on a batch (bf16 autocast where ``run.bf16``); returns its mean loss and its
    number of correct answers, on the device. ``run`` is a ``Run`` or the distributed engine's."""
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.bf16):
        logits = run.step(x)
        loss = F.cross_entropy(logits.float(), y)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    run.opt.step()
    return loss.detach(), (logits.argmax(1) == y).sum()


def train_epoch(run: Run, bar: tqdm, epoch: int) -> tuple[float, float]:
    """One pass over the training batches; returns the mean loss and accuracy. Stops early,
    at a host sync (every 50 steps), once the mean loss has diverged."""
    run.model.train()
    loss_sum = torch.zeros((), device=run.device)
    hits = torch.zeros((), device=run.device, dtype=torch.long)
    seen, tick, steps = 0, time.perf_counter(), len(run.train)
    for i, (x, y) in enumerate(run.train, start=1):
        loss, hit = train_step(run, x, y)
        loss_sum += loss * len(y)
        hits += hit
        seen += len(y)
        bar.update()
        if i % 50 == 0 or i == steps:  # one host sync every 50 steps
            mean_loss = loss_sum.item() / seen
            if diverged(mean_loss):
                break
            rate = seen / (time.perf_counter() - tick)
            bar.set_postfix(epoch=epoch + 1, loss=f"{mean_loss:.3f}",
                            acc=f"{hits.item() / seen:.3f}", img_s=f"{rate:.0f}")  # fmt: skip
    return loss_sum.item() / seen, hits.item() / seen


def end_epoch(run: Run, cfg: TrainConfig, epoch: int, loss: float, acc: float) -> dict:
    """Validate, step the schedule, and return the epoch's line of the history (its ``seconds``
    are filled in by the caller)."""
    val_acc = accuracy(run.model, run.val)
    lr = run.opt.param_groups[0]["lr"]
    if cfg.schedule == "plateau":
        run.scheduler.step(val_acc)
    else:
        run.scheduler.step()
    return {"epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "val_acc": val_acc, "lr": lr}


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
    _check_validation(cfg, data)
    started, t0 = now(), time.perf_counter()
    device = pick_device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    split = prepare(data, cfg, device)
    run = setup(cfg, data, split, device)
    identity = {"config": asdict(cfg), "device_type": device.type, "data": data.checksum}
    done = {"epoch": 0, "history": [], "train_time": 0.0, "wall_time": 0.0}
    if checkpoint is not None:
        done = load_checkpoint(checkpoint, identity, run.parts, device) or done
    t0 -= done["wall_time"]  # the wall time counts an interrupted process too
    status, diverged_epoch, steps = "completed", None, len(run.train)
    bar = tqdm(total=cfg.epochs * steps, initial=done["epoch"] * steps, desc=run_id,
               disable=not progress, unit="step", leave=False, position=position)  # fmt: skip
    for epoch in range(done["epoch"], cfg.epochs):
        if stalled(done["history"], cfg.stall_epochs, len(data.classes)):
            status = "stalled"
            break
        tick = time.perf_counter()
        loss, acc = train_epoch(run, bar, epoch)
        done["train_time"] += time.perf_counter() - tick  # training steps only
        if diverged(loss):
            status, diverged_epoch = "diverged", epoch + 1
            break
        line = end_epoch(run, cfg, epoch, loss, acc)
        done["history"].append({**line, "seconds": time.perf_counter() - tick})
        done["epoch"] = epoch + 1
        bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}", val=f"{line['val_acc']:.3f}")
        if checkpoint is not None:
            progress_now = {**done, "wall_time": time.perf_counter() - t0}
            save_checkpoint(checkpoint, identity, run.parts, progress_now, device)
    bar.close()
    result = finish(cfg, data, split, run, done, status, diverged_epoch, model_path)
    result = RunResult(
        run_id=run_id, grid=grid, started=started, wall_time_s=time.perf_counter() - t0, **result
    ).to_dict()
    if out is not None:
        save_result(result, out)
    return result


def _check_validation(cfg: TrainConfig, data: CIFAR10) -> None:
    if cfg.n_val < len(data.classes):
        raise ValueError(
            f"n_val={cfg.n_val}: validation needs at least one image per class "
            f"({len(data.classes)}); with none, validation accuracy would read 0 every epoch"
        )


def finish(
    cfg: TrainConfig, data: CIFAR10, split: Split, run: Run, done: dict, status: str,
    diverged_epoch: int | None, model_path: Path | None,
) -> dict:  # fmt: skip
    """Test a net that did not diverge (a stalled one too: its failure is a result), save it,
    and return the fields of its ``RunResult`` that training decides."""
    trained = status != "diverged"
    test = evaluate(run.model, run.test, cfg.eval_scales) if trained else {}
    if model_path is not None and trained:
        save_model(run.model, model_path)
    history, train_time = done["history"], done["train_time"]
    images = split.sizes["n_train"] // cfg.batch_size * cfg.batch_size * len(history)
    return {
        "preset": cfg.preset, "smoke": cfg.smoke, "seed": cfg.seed, "status": status,
        "diverged_epoch": diverged_epoch, "config": asdict(cfg),
        "params": sum(p.numel() for p in run.model.parameters()), "history": history,
        "test": test, "train_time_s": train_time,
        "images_per_s": images / train_time if train_time > 0 else 0.0, "finished": now(),
        "provenance": provenance(run.device),
        "data": {"source": data.source, "checksum": data.checksum, **split.sizes},
        "model_sha256": weights_digest(run.model) if trained else None,
    }  # fmt: skip
