"""The paper's full training recipe on an ImageFolder data set, one process per device with
``DistributedDataParallel``, or a single process.

Every process builds the same net (same seed), reads its share of each epoch's batches
(``vggrepro.engine.imagenet``), and takes SGD steps on the gradient averaged over all of them
(DDP), so that N processes with batch B / N each take the steps one process with batch B would,
up to the order of floating-point sums: the global batch and learning rate are the paper's
whatever N is. Validation accuracy, which decides the learning-rate drops, and the test
protocols are summed over the processes' disjoint shares of the validation images, so every
process sees the same numbers and drops its rate at the same epoch. Rank 0 alone writes the
per-epoch checkpoint (atomically), the results file and the trained net; every process resumes
from the same checkpoint. Dropout draws from a seed fixed by (seed, epoch, rank), so a resumed
run repeats an epoch exactly.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from vggrepro.arch.initialisation import initialise, warm_start
from vggrepro.arch.models import VGG, build, to_dense
from vggrepro.engine.checkpoint import load_checkpoint, save_checkpoint
from vggrepro.engine.distributed import World, agree, backend, per_rank_batch, share, total
from vggrepro.engine.evaluate import folder_protocols, folder_views, topk_correct
from vggrepro.engine.imagenet import (
    EvalImages,
    ImageFolderData,
    Stats,
    TrainImages,
    batches,
    eval_loader,
    image_stats,
    seed_for,
    subset,
    train_loader,
)
from vggrepro.engine.loader import normalise
from vggrepro.engine.nets import load_model, save_model, weights_digest
from vggrepro.engine.presets import ImageNetConfig, diverged
from vggrepro.engine.provenance import now, provenance
from vggrepro.engine.train import plateau, train_step
from vggrepro.results.io import save_result
from vggrepro.results.schema import RunResult


@dataclass
class Run:
    """What one process trains with: the net (and the module that takes the steps: DDP's
    wrapper, or the net itself in a world of one), optimiser, schedule and loaders."""

    cfg: ImageNetConfig
    model: VGG
    step: torch.nn.Module
    opt: torch.optim.Optimizer
    scheduler: Any
    train: DataLoader
    val: DataLoader
    test: DataLoader
    stats: Stats
    device: torch.device
    world: World

    @property
    def parts(self) -> dict[str, Any]:
        """The stateful parts a checkpoint saves (augmentation is fixed by seed and epoch)."""
        return {"model": self.model, "optimizer": self.opt, "scheduler": self.scheduler}

    @property
    def bf16(self) -> bool:
        return self.device.type == "cuda"


def setup(
    cfg: ImageNetConfig, data: ImageFolderData, world: World, device: torch.device, workers: int
) -> Run:
    """Measure the image statistics (rank 0, shared), build and initialise the net (warm-started
    if asked), its optimiser, schedule and loaders. The net is wrapped for DDP by ``wrap``,
    after a checkpoint has been loaded into it."""
    stats = share(image_stats(data.train, cfg, workers) if world.main else None, world)
    torch.manual_seed(cfg.seed)
    model = initialise(build(cfg.spec(len(data.classes))), cfg.init)
    if cfg.warm_start:
        warm_start(model, load_model(Path(cfg.warm_start)))
    model = model.to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    images = TrainImages(subset(data.train, cfg.n_train), cfg, stats)
    train = train_loader(
        images, per_rank_batch(cfg.batch_size, world), world, workers, device.type == "cuda"
    )
    if len(train) == 0:
        raise ValueError(
            f"{len(images)} training images make no full global batch of {cfg.batch_size} "
            f"({world.size} processes); lower --batch-size or use more images"
        )
    views = [
        EvalImages(data.val, cfg.crop, cfg.single_scale(), scales)
        for scales in ((), cfg.test_scales())
    ]
    return Run(
        cfg, model, model, opt, plateau(opt, cfg.lr, cfg.lr_factor, cfg.patience, cfg.max_drops),
        train, *(eval_loader(v, cfg.eval_batch_size, world, workers) for v in views),
        stats=stats, device=device, world=world,
    )  # fmt: skip


def wrap(run: Run) -> None:
    """Take the steps through ``DistributedDataParallel`` when there are several processes (it
    averages the gradients over them in the backward pass)."""
    if run.world.distributed:
        ids = [run.device.index] if run.device.type == "cuda" else None
        run.step = DistributedDataParallel(run.model, device_ids=ids)


def _inputs(run: Run, x: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 images (N, C, H, W) on the host to the net's normalised input on the device, with
    each image's RGB shift (in [0, 1] units) added."""
    x = x.to(run.device, non_blocking=True).float()
    if shift is not None:
        x = x + 255 * shift.to(run.device)[:, :, None, None]
    x = normalise(x, run.stats.mean, run.stats.std)
    return x.contiguous(memory_format=torch.channels_last)


def train_epoch(run: Run, epoch: int, bar: tqdm) -> tuple[float, float]:
    """One pass over this process's batches; returns the mean loss and accuracy over every
    process. Stops early, at a sum over the processes (every 50 steps), once the mean loss has
    diverged: every process sees the same sum, so all stop together."""
    run.model.train()
    run.train.sampler.set_epoch(epoch)
    run.train.dataset.set_epoch(epoch)
    torch.manual_seed(seed_for(run.cfg.seed, epoch, -1 - run.world.rank))  # dropout
    sums = torch.zeros(3, dtype=torch.float64, device=run.device)  # loss, hits, images
    steps = len(run.train)
    for i, (x, y, shift) in enumerate(batches(run.train), start=1):
        y = y.to(run.device, non_blocking=True)
        loss, hits = train_step(run, _inputs(run, x, shift), y)
        sums += torch.stack([loss.double() * len(y), hits.double(), sums.new_tensor(len(y))])
        bar.update()
        if i % 50 == 0 or i == steps:
            seen = total(sums.clone(), run.world)
            mean_loss, acc = (seen[:2] / seen[2]).tolist()
            if diverged(mean_loss):
                break
            bar.set_postfix(epoch=epoch + 1, loss=f"{mean_loss:.3f}", acc=f"{acc:.3f}")
    return mean_loss, acc


@torch.no_grad()
def validate(run: Run) -> float:
    """Top-1 accuracy of the centre crop over the validation images of every process."""
    run.model.eval()
    hits = torch.zeros(2, dtype=torch.float64, device=run.device)
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.bf16):
        for centre, _, y in batches(run.val):
            right = (run.model(_inputs(run, centre)).argmax(1).cpu() == y).sum()
            hits += torch.stack([right, torch.tensor(len(y))]).to(hits)
    run.model.train()
    hits = total(hits, run.world)
    return hits[0].item() / max(hits[1].item(), 1)


@torch.no_grad()
def test(run: Run) -> dict[str, dict[str, float]]:
    """Top-1 and top-5 error (percent) of every protocol (centre crop, flip, dense at each test
    scale, dense multi-scale) over the validation images of every process."""
    scales = run.cfg.test_scales()
    names = folder_protocols(scales)
    counts = torch.zeros(len(names) + 1, 2, dtype=torch.float64, device=run.device)
    run.model.eval()
    dense = to_dense(run.model).eval()
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.bf16):
        for centre, scaled, y in batches(run.test):
            images = [[_inputs(run, im[None])[0] for im in ims] for ims in scaled]
            views = folder_views(run.model, dense, _inputs(run, centre), images, scales)
            y = y.to(run.device)
            found = [[topk_correct(views[n], y, k) for k in (1, 5)] for n in names]
            counts += torch.tensor([*found, [len(y), 0]], dtype=counts.dtype).to(counts)
    run.model.train()
    counts = total(counts, run.world)
    n = counts[-1, 0].item()
    return {
        name: {"top1_error": 100 * (1 - c1 / n), "top5_error": 100 * (1 - c5 / n)}
        for name, (c1, c5) in zip(names, counts[:-1].tolist(), strict=True)
    }


def train_imagenet(
    cfg: ImageNetConfig, data: ImageFolderData, world: World, device: torch.device, *,
    run_id: str, out: Path | None = None, checkpoint: Path | None = None,
    model_path: Path | None = None, workers: int = 4, progress: bool = True,
) -> dict:  # fmt: skip
    """Train one run in this process (one of ``world``), test it with every protocol; rank 0
    writes the checkpoint after every epoch, the results file to ``out`` and the net to
    ``model_path``. An existing checkpoint of the same run is resumed. Returns the results."""
    started, t0 = now(), time.perf_counter()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    run = setup(cfg, data, world, device, workers)
    identity = {"config": asdict(cfg), "device_type": device.type, "data": data.checksum}
    done = {"epoch": 0, "history": [], "train_time": 0.0, "wall_time": 0.0}
    if checkpoint is not None:
        done = load_checkpoint(checkpoint, identity, run.parts, device) or done
    agree(done["epoch"], world, f"the epoch to resume from (is {checkpoint} on a shared folder?)")
    wrap(run)
    t0 -= done["wall_time"]  # the wall time counts an interrupted process too
    status, diverged_epoch, steps = "completed", None, len(run.train)
    bar = tqdm(total=cfg.epochs * steps, initial=done["epoch"] * steps, desc=run_id,
               disable=not (progress and world.main), unit="step", leave=False)  # fmt: skip
    for epoch in range(done["epoch"], cfg.epochs):
        tick = time.perf_counter()
        loss, acc = train_epoch(run, epoch, bar)
        done["train_time"] += time.perf_counter() - tick
        if diverged(loss):
            status, diverged_epoch = "diverged", epoch + 1
            break
        val_acc, lr = validate(run), run.opt.param_groups[0]["lr"]
        run.scheduler.step(val_acc)
        line = {"epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "val_acc": val_acc}
        done["history"].append({**line, "lr": lr, "seconds": time.perf_counter() - tick})
        done["epoch"] = epoch + 1
        if checkpoint is not None and world.main:
            progress_now = {**done, "wall_time": time.perf_counter() - t0}
            save_checkpoint(checkpoint, identity, run.parts, progress_now, device)
    bar.close()
    result = RunResult(
        run_id=run_id, grid="imagenet", started=started, **finish(run, data, done, status),
        diverged_epoch=diverged_epoch, wall_time_s=time.perf_counter() - t0,
    ).to_dict()  # fmt: skip
    if world.main:
        if model_path is not None and status != "diverged":
            save_model(run.model, model_path)
        if out is not None:
            save_result(result, out)
    return result


def finish(run: Run, data: ImageFolderData, done: dict, status: str) -> dict:
    """Test a net that did not diverge and return the fields of its ``RunResult`` that
    training decides."""
    cfg, world, trained = run.cfg, run.world, status != "diverged"
    images = len(run.train) * cfg.batch_size * len(done["history"])
    val = len(run.test.dataset)
    return {
        "preset": cfg.preset, "smoke": cfg.smoke, "seed": cfg.seed, "status": status,
        "config": asdict(cfg), "params": sum(p.numel() for p in run.model.parameters()),
        "history": done["history"], "test": test(run) if trained else {},
        "train_time_s": done["train_time"],
        "images_per_s": images / done["train_time"] if done["train_time"] > 0 else 0.0,
        "finished": now(),
        "provenance": {
            **provenance(run.device), "world_size": world.size,
            "backend": backend(run.device) if world.distributed else None,
            "per_rank_batch": per_rank_batch(cfg.batch_size, world),
        },
        "data": {"source": data.source, "checksum": data.checksum,
                 "n_train": len(run.train.dataset), "n_val": val, "n_test": val,
                 "classes": len(data.classes)},
        "model_sha256": weights_digest(run.model) if trained else None,
    }  # fmt: skip
