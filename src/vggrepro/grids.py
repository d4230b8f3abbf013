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

from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from vggrepro.data import CIFAR10
from vggrepro.results import ResultError, load_result, save_result
from vggrepro.train import TrainConfig, preset, train

DEPTHS = ("vgg11", "vgg13", "vgg16", "vgg19")

GRIDS: dict[str, dict[str, dict]] = {
    # Does test error fall with depth? With and without batch norm.
    "depth": {
        f"{arch}{'_bn' if bn else ''}": {"arch": arch, "batch_norm": bn}
        for arch in DEPTHS
        for bn in (False, True)
    },
    # Does a 19-layer net without batch norm train from the paper's init, or does it need
    # Glorot/Kaiming or the warm start from a trained 11-layer net (section 3.1)?
    "init": {
        "vgg11_paper": {"arch": "vgg11", "init": "paper"},
        "vgg19_paper": {"arch": "vgg19", "init": "paper"},
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


def _ordered(grid: dict[str, dict]) -> list[str]:
    """Run names with every warm-start source before the runs that need it."""
    sources = [o["warm_start"] for o in grid.values() if "warm_start" in o]
    return sources + [name for name in grid if name not in sources]


def run_grid(
    name: str,
    data: CIFAR10,
    *,
    out: Path,
    checkpoints: Path,
    seeds: tuple[int, ...] | None = None,
    smoke: bool = False,
    device: str | None = None,
    progress: bool = True,
    **overrides,
) -> list[dict]:
    """Train every run of grid ``name`` (or of every grid, for ``all``) for every seed."""
    if name == "all":
        return [
            r
            for g in GRIDS
            for r in run_grid(
                g,
                data,
                out=out,
                checkpoints=checkpoints,
                seeds=seeds,
                smoke=smoke,
                device=device,
                progress=progress,
                **overrides,
            )  # fmt: skip
        ]
    if name not in GRIDS:
        raise ValueError(f"unknown grid {name!r}; valid: {', '.join(grid_names())}")
    grid = GRIDS[name]
    seeds = seeds or (SMOKE_SEEDS if smoke else SEEDS)
    jobs = [(run, seed) for seed in seeds for run in _ordered(grid)]
    sources = {o["warm_start"] for o in grid.values() if "warm_start" in o}
    results = []
    for run, seed in tqdm(jobs, desc=f"grid {name}", disable=not progress, unit="run"):
        options = dict(grid[run])
        if "warm_start" in options:
            options["warm_start"] = str(
                checkpoints / name / f"{options['warm_start']}-s{seed}.model.pt"
            )
        cfg = preset("smoke" if smoke else "reduced", seed=seed, **options, **overrides)
        run_id, path = f"{name}/{run}-s{seed}", out / name / f"{run}-s{seed}.json"
        model_path = checkpoints / name / f"{run}-s{seed}.model.pt"
        done = _existing(path, cfg, data)
        # A warm-start source is trained again only if a run that needs its net is missing.
        needed = [d for d, o in grid.items() if o.get("warm_start") == run]
        missing = [d for d in needed if not (out / name / f"{d}-s{seed}.json").exists()]
        if done is not None and (model_path.exists() or not missing):
            results.append(done)
            continue
        twin = None if run in sources else _twin(out, cfg, data)
        if twin is not None:  # the same run is already recorded in another grid: share it
            shared = {**twin, "grid": name, "run_id": run_id, "shared_with": twin["run_id"]}
            save_result(shared, path)
            results.append(shared)
            continue
        results.append(
            train(
                cfg,
                data,
                run_id=run_id,
                grid=name,
                out=path,
                checkpoint=checkpoints / name / f"{run}-s{seed}.ckpt.pt",
                device=device,
                progress=progress,
                model_path=model_path,
            )  # fmt: skip
        )
    return results


def _same(result: dict, cfg: TrainConfig, data: CIFAR10) -> bool:
    """Whether ``result`` was made with ``cfg`` on ``data`` (wherever its warm-start net lay)."""
    return (
        _comparable(result["config"]) == _comparable(_jsonable(asdict(cfg)))
        and result["data"]["checksum"] == data.checksum
    )


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
    """A config with its warm-start net named by file, not by the folder it was kept in."""
    warm = config.get("warm_start")
    return {**config, "warm_start": Path(warm).name if warm else warm}


def _jsonable(config: dict) -> dict:
    """A config as it reads back from JSON (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
