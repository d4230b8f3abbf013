"""The experiment grids the book cites, and a runner that trains them run by run.

A grid maps a run name to the training options that differ from the preset. A run that needs
another run's trained net (the warm start) names it, and the runner trains that one first.
Results go to ``out/<grid>/<name>-s<seed>.json``; a run whose results file already exists for
the same configuration and data is skipped, and an interrupted run resumes from its checkpoint,
so a grid can simply be started again after a failure. A run whose exact configuration another
grid already recorded (vgg11 in the depth and LRN grids, say) is not trained twice: its result
is copied with a ``shared_with`` field naming the original.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from tqdm import tqdm

from vggrepro.arch.configs import resolve, weight_layers
from vggrepro.engine.data import CIFAR10
from vggrepro.engine.presets import TrainConfig, preset, stalled
from vggrepro.engine.train import train
from vggrepro.results.io import load_result, save_result
from vggrepro.results.schema import ResultError

DEPTHS = ("vgg11", "vgg13", "vgg16", "vgg19")

GRIDS: dict[str, dict[str, dict]] = {
    # Does test error fall with depth? With and without batch norm.
    "depth": {
        f"{arch}{'_bn' if bn else ''}": {"arch": arch, "batch_norm": bn}
        for arch in DEPTHS
        for bn in (False, True)
    },
    # Does a 19-layer net without batch norm train from the paper's init (either reading of its
    # "10^-2 variance": std 0.01 or, literally, 0.1), or does it need
    # Glorot/Kaiming or the warm start from a trained 11-layer net (section 3.1)?
    "init": {
        "vgg11_paper": {"arch": "vgg11", "init": "paper"},
        "vgg19_paper": {"arch": "vgg19", "init": "paper"},
        "vgg19_paper_literal": {"arch": "vgg19", "init": "paper_literal"},
        "vgg19_glorot": {"arch": "vgg19", "init": "glorot"},
        "vgg19_kaiming": {"arch": "vgg19", "init": "kaiming"},
        "vgg19_warm": {"arch": "vgg19", "init": "paper", "warm_start": "vgg11_paper"},
    },
    # Section 4.1: B against B with each pair of 3x3 convolutions replaced by one 5x5.
    "filters": {"vgg13": {"arch": "vgg13"}, "vgg13_5x5": {"arch": "vgg13_5x5"}},
    # Table 3: A against A-LRN.
    "lrn": {"vgg11": {"arch": "vgg11"}, "vgg11_lrn": {"arch": "vgg11_lrn"}},
    # Table 3: C (1x1 convolutions) against D (3x3 convolutions).
    "1x1": {"vgg16_1x1": {"arch": "vgg16_1x1"}, "vgg16": {"arch": "vgg16"}},
}
SEEDS = (0, 1, 2)
SMOKE_SEEDS = (0, 1)


def grid_names() -> list[str]:
    return [*GRIDS, "all"]


@dataclass(frozen=True)
class Job:
    """One run of a grid to train: its configuration and where its files go."""

    cfg: TrainConfig
    run_id: str
    path: Path
    checkpoint: Path
    model_path: Path


def _ordered(grid: dict[str, dict]) -> list[str]:
    """Run names with every warm-start source before the runs that need it."""
    sources = [o["warm_start"] for o in grid.values() if "warm_start" in o]
    return sources + [name for name in grid if name not in sources]


def check(name: str, runs: tuple[str, ...] | None = None, workers: int = 1) -> None:
    """Raise ``ValueError`` for an unknown grid or run name, or more workers than cores (their
    processes would compete for the cores and each run several times slower)."""
    if name not in grid_names():
        raise ValueError(f"unknown grid {name!r}; valid: {', '.join(grid_names())}")
    known = {r for g, named in GRIDS.items() if name in (g, "all") for r in named}
    unknown = sorted(set(runs or ()) - known)
    if unknown:
        raise ValueError(
            f"grid {name} has no run {unknown[0]!r}; its runs: {', '.join(sorted(known))}"
        )
    cores = os.cpu_count() or 1
    if not 1 <= workers <= cores:
        raise ValueError(
            f"workers must be between 1 and the {cores} cores, got {workers}: with more than the "
            "cores, processes compete for them and each runs several times slower"
        )


def _plan(
    name: str, names: list[str], seeds: tuple[int, ...], data: CIFAR10, tier: str, out: Path,
    checkpoints: Path, overrides: dict,
) -> tuple[dict[str, dict], tuple[list[Job], list[Job]]]:  # fmt: skip
    """The runs of grid ``name`` already recorded (or shared from another grid), by run id, and
    the jobs left to train: warm-start sources first, then the others."""
    grid = GRIDS[name]
    sources = {o["warm_start"] for o in grid.values() if "warm_start" in o}
    results: dict[str, dict] = {}
    waves: tuple[list[Job], list[Job]] = ([], [])  # warm-start nets first, then the others
    for seed in seeds:
        for run in names:
            chosen = dict(grid[run])
            if "warm_start" in chosen:
                chosen["warm_start"] = str(
                    checkpoints / name / f"{chosen['warm_start']}-s{seed}.model.pt"
                )
            cfg = preset(tier, seed=seed, **chosen, **overrides)
            job = Job(
                cfg,
                run_id=f"{name}/{run}-s{seed}",
                path=out / name / f"{run}-s{seed}.json",
                checkpoint=checkpoints / name / f"{run}-s{seed}.ckpt.pt",
                model_path=checkpoints / name / f"{run}-s{seed}.model.pt",
            )
            done = _existing(job.path, cfg, data)
            # A warm-start source is trained again only if a run that needs its net is missing.
            needed = [d for d, o in grid.items() if o.get("warm_start") == run]
            missing = [d for d in needed if not (out / name / f"{d}-s{seed}.json").exists()]
            if done is not None and (job.model_path.exists() or not missing):
                results[job.run_id] = done
                continue
            twin = None if run in sources else _twin(out, cfg, data)
            if twin is not None:  # the same run is already recorded in another grid: share it
                shared = {**twin, "grid": name, "run_id": job.run_id, "shared_with": twin["run_id"]}
                save_result(shared, job.path)
                results[job.run_id] = shared
                continue
            waves[0 if run in sources else 1].append(job)
    return results, waves


def run_grid(
    name: str,
    data: CIFAR10,
    *,
    out: Path,
    checkpoints: Path,
    seeds: tuple[int, ...] | None = None,
    tier: str = "reduced",
    runs: tuple[str, ...] | None = None,
    workers: int = 1,
    device: str | None = None,
    progress: bool = True,
    **overrides,
) -> list[dict]:
    """Train every run of grid ``name`` (or of every grid, for ``all``) for every seed.

    ``tier`` names the training preset (``reduced``, ``cpu`` or ``smoke``); ``runs`` limits
    the grid to some of its run names. ``workers`` > 1 trains that many runs at once, each in a
    process of its own with an equal share of the CPU threads (two one-thread processes beat
    one two-thread process on two cores; see benchmarks/cpu_tier.py), never more threads in
    all than the machine has cores.
    """
    options = {"seeds": seeds, "tier": tier, "runs": runs, "workers": workers, "device": device}
    if name == "all":
        every = []
        for g in GRIDS:
            chosen = None if runs is None else tuple(r for r in runs if r in GRIDS[g])
            if chosen == ():
                continue
            every += run_grid(
                g, data, out=out, checkpoints=checkpoints, progress=progress,
                **{**options, "runs": chosen}, **overrides,
            )  # fmt: skip
        return every
    check(name, runs, workers)
    grid = GRIDS[name]
    seeds = seeds or (SMOKE_SEEDS if tier == "smoke" else SEEDS)
    names = [r for r in _ordered(grid) if runs is None or r in runs]
    results, waves = _plan(name, names, seeds, data, tier, out, checkpoints, overrides)
    total = len(waves[0]) + len(waves[1])
    bar = tqdm(total=total, desc=f"grid {name}", disable=not progress, unit="run")
    with bar:
        for wave in waves:
            for job, result in _train_all(wave, data, workers, device, progress):
                results[job.run_id] = result
                top1 = result["test"].get("centre", {}).get("top1_error")
                shown = result["status"] if top1 is None else f"{top1:.1f}%"
                bar.set_postfix(last=job.run_id, top1=shown)
                bar.update()
    ordered = [f"{name}/{r}-s{s}" for s in seeds for r in names]
    return [results[run_id] for run_id in ordered]


def _train(job: Job, data: CIFAR10, device: str | None, progress: bool, position: int = 0) -> dict:
    return train(
        job.cfg, data, run_id=job.run_id, grid=job.run_id.split("/")[0], out=job.path,
        checkpoint=job.checkpoint, device=device, progress=progress, model_path=job.model_path,
        position=position,
    )  # fmt: skip


def _train_all(
    jobs: list[Job], data: CIFAR10, workers: int, device: str | None, progress: bool
) -> Iterator[tuple[Job, dict]]:
    """Train ``jobs``, in this process or in ``workers`` processes; yield each as it ends."""
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield job, _train(job, data, device, progress)
        return
    # Longest first (more weight layers, then seed order), so no long run is left for the end.
    jobs = sorted(jobs, key=lambda j: -weight_layers(resolve(j.cfg.arch)))
    context = multiprocessing.get_context("spawn")  # fork after OpenMP has started can hang
    slots = context.Queue()
    for slot in range(workers):
        slots.put(slot)
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(data, threads, slots)
    ) as pool:
        futures = {pool.submit(_worker_train, job, device, progress): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


_WORKER: dict = {}
"""In a worker process: its data set and progress-bar slot."""


def _worker_init(data: CIFAR10, threads: int, slots: multiprocessing.Queue) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(data=data, slot=slots.get())


def _worker_train(job: Job, device: str | None, progress: bool) -> dict:
    return _train(job, _WORKER["data"], device, progress, position=_WORKER["slot"] + 1)


def _same(result: dict, cfg: TrainConfig, data: CIFAR10) -> bool:
    """Whether ``result`` was made with ``cfg`` on ``data`` (wherever its warm-start net lay).

    A run recorded under another stall rule still counts when ``cfg``'s rule would not have
    changed it: it did not stop as stalled, and it never spent ``cfg.stall_epochs`` epochs in
    a row at chance (a rule that never fires leaves a run as it was).
    """
    recorded, wanted = _comparable(result["config"]), _comparable(_jsonable(asdict(cfg)))
    if recorded.pop("stall_epochs") != wanted.pop("stall_epochs"):
        history, classes = result["history"], len(data.classes)
        if result["status"] == "stalled" or any(
            stalled(history[:end], cfg.stall_epochs, classes) for end in range(len(history) + 1)
        ):
            return False
    return recorded == wanted and result["data"]["checksum"] == data.checksum


def _existing(path: Path, cfg: TrainConfig, data: CIFAR10) -> dict | None:
    """The recorded result at ``path`` if it is valid and was made with ``cfg`` on ``data``."""
    if not path.exists():
        return None
    try:
        result = load_result(path)
    except ResultError:
        return None
    return result if _same(result, cfg, data) else None


def _twin(out: Path, cfg: TrainConfig, data: CIFAR10) -> dict | None:
    """A run of another grid under ``out`` trained with exactly this configuration and data."""
    for path in sorted(out.glob("*/*.json")):
        twin = _existing(path, cfg, data)
        if twin is not None and "shared_with" not in twin:
            return twin
    return None


def _comparable(config: dict) -> dict:
    """A config with its warm-start net named by file, not by the folder it was kept in, and
    with the default of every option added since it was recorded."""
    defaults = _jsonable({f.name: f.default for f in fields(TrainConfig)})
    warm = config.get("warm_start")
    return {**defaults, **config, "warm_start": Path(warm).name if warm else warm}


def _jsonable(config: dict) -> dict:
    """A config as it reads back from JSON (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
