"""The experiment grids the book cites, and a runner that trains them run by run.

A grid maps a run name to the training options that differ from the preset. A run that needs
another run's trained net (the warm start) names it, and the runner trains that one first.
Results go to ``out/<grid>/<name>-s<seed>.json``; a run whose results file already exists for
the same configuration is skipped, and an interrupted run resumes from its checkpoint, so a
grid can simply be started again after a failure.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from vggrepro.data import CIFAR10
from vggrepro.results import ResultError, load_result
from vggrepro.train import preset, train

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
        path = out / name / f"{run}-s{seed}.json"
        model_path = checkpoints / name / f"{run}-s{seed}.model.pt"
        done = _existing(path, cfg)
        if done is not None and (run not in sources or model_path.exists()):
            results.append(done)
            continue
        results.append(
            train(
                cfg,
                data,
                run_id=f"{name}/{run}-s{seed}",
                grid=name,
                out=path,
                checkpoint=checkpoints / name / f"{run}-s{seed}.ckpt.pt",
                device=device,
                progress=progress,
                model_path=model_path,
            )  # fmt: skip
        )
    return results


def _existing(path: Path, cfg) -> dict | None:
    """The recorded result at ``path`` if it is valid and was made with ``cfg``."""
    if not path.exists():
        return None
    try:
        result = load_result(path)
    except ResultError:
        return None
    same = result["config"] == _jsonable(asdict(cfg))
    return result if same else None


def _jsonable(config: dict) -> dict:
    """A config as it reads back from JSON (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
