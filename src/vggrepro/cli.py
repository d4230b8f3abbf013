"""Command line: ``python -m vggrepro train ...`` for one run, ``run GRID`` for a named grid,
``retest GRID`` and ``probe [NET]`` to add measurements to recorded runs, ``chapter NAME`` to
re-execute one chapter of the book."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

import torch

from vggrepro import chapters
from vggrepro.arch.configs import ALIASES, VGGSpec
from vggrepro.arch.initialisation import SCHEMES, warm_start
from vggrepro.arch.models import build
from vggrepro.engine import distributed
from vggrepro.engine.data import DataError, load_cifar10
from vggrepro.engine.ddp import train_imagenet
from vggrepro.engine.grids import GRIDS, check, grid_names, run_grid
from vggrepro.engine.imagenet import scan
from vggrepro.engine.nets import load_model, save_model, weights_digest
from vggrepro.engine.presets import PRESETS, ImageNetConfig, TrainConfig, imagenet_preset, preset
from vggrepro.engine.provenance import pick_device
from vggrepro.engine.retest import SCALES, retest_grid
from vggrepro.engine.train import train
from vggrepro.results.io import load_result, save_result
from vggrepro.results.schema import TIERS

DATA_HELP = (
    "CIFAR-10 source: 'torchvision' (download), or a path to an ImageFolder archive or folder "
    "such as cifar10-jpeg.tar.gz (default: $VGGREPRO_DATA, else torchvision)"
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**63:  # the results schema wants >= 0; torch's RNG takes 64 bits
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**63 - 1, got {text}")
    return value


def _n_val(text: str) -> int:
    value = int(text)
    if value < 10 or value % 10:
        raise argparse.ArgumentTypeError(
            f"must be a positive multiple of 10 (the same number from each class), got {text}"
        )
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _jitter(text: str) -> tuple[int, int]:
    try:
        smin, smax = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected SMIN,SMAX such as 37,73, got {text!r}"
        ) from None
    if not 32 <= smin <= smax:
        raise argparse.ArgumentTypeError(
            f"needs 32 <= SMIN <= SMAX (scales of the 32 px images), got {text!r}"
        )
    return smin, smax


TRAIN_OPTIONS: dict[str, tuple[str, dict]] = {
    "arch": ("--arch", {"default": "vgg11", "choices": list(ALIASES), "help": "configuration"}),
    "batch_norm": ("--bn", {"action": "store_true", "help": "the batch-norm variant"}),
    "init": ("--init", {"default": "kaiming", "choices": list(SCHEMES), "help": "initialisation"}),
    "warm_start": ("--warm-start", {"type": Path, "help": "a trained net A (from --save-model)"}),
    "seed": ("--seed", {"type": _seed, "default": 0}),
    "width": ("--width", {"type": _positive_float, "help": "conv width multiplier"}),
    "fc_width": ("--fc-width", {"type": _positive_int, "help": "FC hidden width"}),
    "batch_size": ("--batch-size", {"type": _positive_int}),
    "lr": ("--lr", {"type": _positive_float, "help": "initial learning rate"}),
    "jitter": ("--jitter", {"type": _jitter, "help": "scale jittering SMIN,SMAX (e.g. 37,73)"}),
    "n_train": (
        "--n-train",
        {"type": _positive_int, "help": "train on a random subset of this size"},
    ),
    "n_val": ("--n-val", {"type": _n_val, "help": "validation images held out (a multiple of 10)"}),
    "n_test": ("--n-test", {"type": _positive_int, "help": "evaluate on a subset of this size"}),
}
"""The ``train`` command's options, each a field of ``TrainConfig`` (the key) with its flag and
argparse settings; an option not given keeps the preset's value."""

IMAGENET_OPTIONS: dict[str, tuple[str, dict]] = {
    "scale": ("--scale", {"type": _positive_int, "help": "imagenet: training scale S (256)"}),
    "crop": ("--crop", {"type": _positive_int, "help": "imagenet: training crop side (224)"}),
    "colour_std": (
        "--colour-std",
        {"type": _positive_float, "help": "imagenet: std of AlexNet's RGB colour shift (off)"},
    ),
    "eval_scales": (
        "--eval-scales",
        {"type": _positive_int, "nargs": "+", "help": "imagenet: dense test scales Q"},
    ),
}
"""Options of the ``imagenet`` preset only, each a field of ``ImageNetConfig``."""
NOT_GIVEN = object()
"""The default of every ``train`` option in ``parser(defaults=False)``."""
CIFAR_ONLY = {"n_val": "--n-val", "n_test": "--n-test", "compile": "--compile", "cache": "--cache"}
"""Options of the ``train`` command that the ``imagenet`` preset has no use for."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument(
        "--cache", type=Path, help="decoded-data cache folder (default: $VGGREPRO_CACHE)"
    )
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda if available")
    p.add_argument("--epochs", type=_positive_int, help="override the preset's epoch budget")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--checkpoints", type=Path, default=Path(".checkpoints"),
        help="folder for per-epoch checkpoints and trained nets (default: .checkpoints)",
    )  # fmt: skip


def parser(defaults: bool = True) -> argparse.ArgumentParser:
    """The command line. ``defaults=False``: the ``train`` command's options not given are left
    out of the parsed namespace, which tells a value given from a default."""
    p = argparse.ArgumentParser(
        prog="python -m vggrepro",
        description="Train VGG nets with the paper's recipe: reduced ones on CIFAR-10, or the "
        "full recipe on an ImageFolder such as ImageNet, under torchrun on several devices.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    _train_parser(sub, defaults)
    for add in (_run_parser, _export_parser, _retest_parser, _probe_parser, _chapter_parser):
        add(sub)
    return p


def _train_parser(sub: argparse._SubParsersAction, defaults: bool = True) -> None:
    t = sub.add_parser("train", help="train one net and write its results file")
    for name, (flag, options) in {**TRAIN_OPTIONS, **IMAGENET_OPTIONS}.items():
        t.add_argument(flag, dest=name, **options)
    t.add_argument(
        "--preset", default="reduced", choices=[*PRESETS, "imagenet"],
        help="imagenet: the paper's full recipe on an ImageFolder (--data), one process per "
        "device under torchrun",
    )  # fmt: skip
    t.add_argument("--smoke", action="store_true", help="same as --preset smoke")
    t.add_argument(
        "--out", type=Path, default=Path("results/single"),
        help="results folder (default: results/single; imagenet: results/imagenet)",
    )  # fmt: skip
    t.add_argument("--save-model", type=Path, help="also save the trained net here")
    t.add_argument(
        "--loader-workers", type=_positive_int, default=8,
        help="imagenet: DataLoader worker processes per training process (default: 8)",
    )  # fmt: skip
    _common(t)
    if not defaults:  # every option's default becomes a marker, left out by ``_given``
        t.set_defaults(**dict.fromkeys(vars(t.parse_args([])), NOT_GIVEN))


def _run_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="train every run of a named grid")
    r.add_argument(
        "grid",
        choices=grid_names(),
        help="; ".join(f"{g}: {', '.join(v)}" for g, v in GRIDS.items()),
    )
    r.add_argument(
        "--preset", default="reduced", choices=list(PRESETS),
        help="reduced: the GPU tier; cpu: the CPU tier; smoke: tiny CPU checks (default: reduced)",
    )  # fmt: skip
    r.add_argument("--smoke", action="store_true", help="same as --preset smoke")
    r.add_argument("--runs", nargs="+", metavar="RUN", help="only these runs of the grid")
    r.add_argument("--seeds", type=_seed, nargs="+", help="default: 0 1 2 (smoke: 0 1)")
    r.add_argument(
        "--workers", type=_positive_int, default=1,
        help="runs trained at once, one process each, sharing the CPU threads (default: 1)",
    )  # fmt: skip
    r.add_argument(
        "--out", type=Path,
        help="results folder (default: results/runs, results/cpu or results/smoke by preset)",
    )  # fmt: skip
    _common(r)


def _export_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("export", help="store a trained net in fp16 (for results/)")
    e.add_argument("model", type=Path, help="a net saved by train --save-model or a grid")
    e.add_argument("dest", type=Path)
    e.add_argument(
        "--result", type=Path,
        help="the results file of the run that trained it, copied beside DEST (same stem)",
    )  # fmt: skip


def _retest_parser(sub: argparse._SubParsersAction) -> None:
    x = sub.add_parser(
        "retest", help="test a grid's recorded nets again with every protocol (CPU tier)"
    )
    x.add_argument("grid", choices=list(GRIDS))
    x.add_argument(
        "--preset", default="cpu", choices=list(PRESETS), help="the tier to retest (default: cpu)"
    )
    x.add_argument(
        "--scales", type=_positive_int, nargs="+", default=list(SCALES),
        help=f"test scales in px (default: {' '.join(map(str, SCALES))})",
    )  # fmt: skip
    x.add_argument("--out", type=Path, help="results folder (default: results/<tier folder>)")
    x.add_argument("--data", help=DATA_HELP)
    x.add_argument("--cache", type=Path, help="decoded-data cache folder")
    x.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda if available")
    x.add_argument("--quiet", action="store_true", help="no progress bars")
    x.add_argument(
        "--checkpoints", type=Path, default=Path(".checkpoints"),
        help="where the grid saved its nets (default: .checkpoints)",
    )  # fmt: skip


def _probe_parser(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser(
        "probe", help="record the features chapter's probes of a saved net (needs CIFAR-10)"
    )
    q.add_argument(
        "net", type=Path, nargs="?",
        help="a net saved with its results file beside it, same stem (default: the best under "
        "results/models, the one the book reads)",
    )  # fmt: skip
    q.add_argument("--data", help=DATA_HELP)
    q.add_argument("--cache", type=Path, help="decoded-data cache folder")
    q.add_argument("--quiet", action="store_true", help="no progress bar while the data loads")


def _chapter_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("chapter", help="re-execute one chapter of the book as a notebook")
    c.add_argument("name", help="the chapter's file name in book/ without .md, e.g. depth")
    c.add_argument(
        "--out", type=Path, default=chapters.NOTEBOOKS,
        help="folder for the executed notebook (default: _build/notebooks)",
    )  # fmt: skip
    c.add_argument(
        "--timeout", type=_positive_int, default=chapters.TIMEOUT,
        help=f"seconds a cell may run before it is stopped (default: {chapters.TIMEOUT})",
    )  # fmt: skip


class UsageError(Exception):
    """A mistake in the command line or its inputs: one line on stderr and exit code 2."""


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "train":
        args.given = _given(argv)
    try:
        return _run(args)
    except (UsageError, DataError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)  # one line, always
        return 2
    except KeyboardInterrupt:
        if args.command in ("train", "run"):
            print(
                "interrupted: every finished epoch is kept in its checkpoint under "
                f"{args.checkpoints}; run the same command again to resume",
                file=sys.stderr,
            )
        else:
            print(f"interrupted: {args.command} stopped before it finished", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    """Check everything that can be checked, load the data, then train (or export, or run a
    chapter)."""
    if args.command == "chapter":
        return _chapter(args)
    if args.command == "retest":
        return _retest(args)
    if args.command == "probe":
        return _probe(args)
    if args.command == "export":
        try:
            export(args.model, args.dest, args.result)
        except (OSError, RuntimeError, KeyError, ValueError) as e:  # ResultError is a ValueError
            raise UsageError(e) from None
        print(f"wrote {args.dest}")
        return 0
    _check_device(args.device)
    if args.command == "train" and args.preset == "imagenet":
        return _train_imagenet(args)
    _refuse_torchrun(args)
    return _run_grid(args) if args.command == "run" else _train_one(args)


def _run_grid(args: argparse.Namespace) -> int:
    """Check the grid's options and folders, load the data, train the grid."""
    _check_run(args)
    overrides = {"compile": args.compile} | ({"epochs": args.epochs} if args.epochs else {})
    tier = "smoke" if args.smoke else args.preset
    out = args.out or Path("results") / TIERS[tier]
    checkpoints = args.checkpoints / TIERS[tier]
    _writable(out, "--out")
    _writable(checkpoints, "--checkpoints")
    _check_results(out)
    chosen = list(GRIDS) if args.grid == "all" else [args.grid]
    _check_checkpoints(sorted(p for g in chosen for p in (checkpoints / g).glob("*.ckpt.pt")))
    data = load_cifar10(args.data, args.cache, progress=not args.quiet)
    try:
        runs = run_grid(
            args.grid, data, out=out, checkpoints=checkpoints,
            seeds=tuple(args.seeds) if args.seeds else None, tier=tier,
            runs=tuple(args.runs) if args.runs else None, workers=args.workers,
            device=args.device, progress=not args.quiet, **overrides,
        )  # fmt: skip
    except ValueError as e:  # a split the data cannot give, an unreadable checkpoint
        raise UsageError(e) from None
    print(f"{len(runs)} runs recorded under {out}")
    return 0


def _train_one(args: argparse.Namespace) -> int:
    """Check one run's options and files, load the data, train it."""
    cfg = config(args)
    _check_size(cfg, pick_device(args.device))
    _check_warm_start(cfg)
    _writable(args.out, "--out")
    _writable(args.checkpoints / "single", "--checkpoints")
    if args.save_model:
        if args.save_model.is_dir():
            raise UsageError(
                f"--save-model {args.save_model}: a folder; give the file to write, such as "
                f"{args.save_model / 'net.pt'}"
            )
        _writable(args.save_model.parent, "--save-model")
    tag = run_tag(cfg)
    checkpoint = args.checkpoints / "single" / f"{tag}.ckpt.pt"
    _check_checkpoints([checkpoint])
    data = load_cifar10(args.data, args.cache, progress=not args.quiet)
    try:
        result = train(
            cfg, data, run_id=f"single/{tag}", out=args.out / f"{tag}.json",
            checkpoint=checkpoint, device=args.device, progress=not args.quiet,
            model_path=args.save_model,
        )  # fmt: skip
    except ValueError as e:  # a split the data cannot give, an unreadable checkpoint
        raise UsageError(e) from None
    top1 = result["test"].get("centre", {}).get("top1_error", float("nan"))
    print(f"{tag}: {result['status']}, centre top-1 error {top1:.2f}% -> {args.out / tag}.json")
    return 0


def _given(argv: list[str] | None) -> set[str]:
    """The ``train`` options the command line gives (argparse fills in the others' defaults,
    so that a default and the same value given look alike)."""
    parsed = vars(parser(defaults=False).parse_args(argv))
    return {name for name, value in parsed.items() if value is not NOT_GIVEN}


def _refuse_torchrun(args: argparse.Namespace) -> None:
    """The CIFAR presets train in one process: several started by torchrun would each train
    the same run and write the same files."""
    if os.environ.get("WORLD_SIZE", "1") != "1":
        raise UsageError(
            f"started as one of {os.environ['WORLD_SIZE']} processes (torchrun), but only "
            f"--preset imagenet trains across processes; run {args.command} without torchrun"
        )
    flags = {name: flag for name, (flag, _) in IMAGENET_OPTIONS.items()}
    flags["loader_workers"] = "--loader-workers"
    given = sorted(flag for name, flag in flags.items() if name in getattr(args, "given", ()))
    if given:
        raise UsageError(f"{', '.join(given)}: options of --preset imagenet only")


def _train_imagenet(args: argparse.Namespace) -> int:
    """Check the launch, options and data of an ImageNet run, join the process group, train.
    Under torchrun every process runs this; rank 0 writes the files."""
    try:
        world = distributed.detect()
        cfg = imagenet_config(args)
        device = distributed.device_for(world, args.device)
        distributed.per_rank_batch(cfg.batch_size, world)
    except ValueError as e:  # DistributedError too
        raise UsageError(e) from None
    _check_size(cfg, device)
    if not args.data:
        raise UsageError("--preset imagenet needs --data: a folder with train/<class>/ and val/")
    data = scan(args.data)
    _check_warm_start(cfg, cfg.spec(len(data.classes)))
    out = args.out if "out" in args.given else Path("results/imagenet")
    tag = run_tag(cfg)
    checkpoint = args.checkpoints / "imagenet" / f"{tag}.ckpt.pt"
    if world.main:
        _check_files(args, out, checkpoint)
    distributed.start(world, device)
    try:
        result = train_imagenet(
            cfg, data, world, device, run_id=f"imagenet/{tag}", out=out / f"{tag}.json",
            checkpoint=checkpoint, model_path=args.save_model, workers=args.loader_workers,
            progress=not args.quiet,
        )  # fmt: skip
    except ValueError as e:  # a data set too small for one batch, an unreadable checkpoint
        raise UsageError(e) from None
    finally:
        distributed.stop(world)
    if world.main:
        top1 = result["test"].get("centre", {}).get("top1_error", float("nan"))
        print(f"{tag}: {result['status']}, centre top-1 error {top1:.2f}% -> {out / tag}.json")
    return 0


def _check_files(args: argparse.Namespace, out: Path, checkpoint: Path) -> None:
    """The folders an ImageNet run writes to, and the checkpoint it would resume."""
    _writable(out, "--out")
    _writable(checkpoint.parent, "--checkpoints")
    if args.save_model:
        _writable(args.save_model.parent, "--save-model")
    _check_checkpoints([checkpoint])


def imagenet_config(args: argparse.Namespace) -> ImageNetConfig:
    """The configuration of an ``imagenet`` run: the preset with the options given."""
    foreign = sorted(flag for name, flag in CIFAR_ONLY.items() if name in args.given)
    if args.smoke:
        foreign.append("--smoke")
    if foreign:
        raise UsageError(f"{', '.join(foreign)}: not an option of --preset imagenet")
    names = (set(TRAIN_OPTIONS) | set(IMAGENET_OPTIONS) | {"epochs"}) & args.given
    options = {name: getattr(args, name) for name in names}
    if "warm_start" in options:
        options["warm_start"] = str(options["warm_start"])
    if "eval_scales" in options:
        options["eval_scales"] = tuple(options["eval_scales"])
    try:
        cfg = imagenet_preset(**options)
        cfg.spec()  # a width or head the builder refuses, before any data is read
    except ValueError as e:
        raise UsageError(e) from None
    return cfg


def _retest(args: argparse.Namespace) -> int:
    """Retest one grid at one tier with the nets its runs saved."""
    _check_device(args.device)
    folder = (args.out or Path("results") / TIERS[args.preset]) / args.grid
    models = args.checkpoints / TIERS[args.preset]
    recorded = sorted(folder.glob("*.json"))
    if not recorded:
        raise UsageError(f"{folder}: no recorded runs of the {args.grid} grid to retest")
    for path in recorded:  # each one a results file, before the data loads
        try:
            load_result(path)
        except (OSError, ValueError) as e:  # ResultError is a ValueError
            raise UsageError(e) from None
    data = load_cifar10(args.data, args.cache, progress=not args.quiet)
    try:
        changed = retest_grid(
            folder, models, data, scales=tuple(args.scales), device=args.device,
            progress=not args.quiet,
        )  # fmt: skip
    except ValueError as e:  # a missing or foreign net, other data
        raise UsageError(e) from None
    print(f"{len(changed)} runs retested under {folder}")
    return 0


def _probe(args: argparse.Namespace) -> int:
    """Record the probes of one saved net in its results file."""
    from vggrepro.report import features  # the report layer: not needed to train

    try:
        if args.net is None:
            ck = features.find_saved_net()
        elif not args.net.is_file():
            raise UsageError(f"{args.net}: no such saved net")
        else:
            ck = features.SavedNet(args.net, load_result(args.net.with_suffix(".json")))
    except (OSError, ValueError) as e:  # no net or no results file; ResultError is a ValueError
        raise UsageError(e) from None
    if ck.smoke:
        raise UsageError(f"{ck.path}: a smoke model has no features to probe")
    data = load_cifar10(args.data, args.cache, progress=not args.quiet)
    try:
        features.record_probe(ck, data)
    except (OSError, RuntimeError, ValueError) as e:  # an unreadable net, other data
        raise UsageError(e) from None
    print(f"probe of {ck.path.name} recorded in {ck.path.with_suffix('.json')}")
    return 0


def _chapter(args: argparse.Namespace) -> int:
    """Execute one chapter; a failing or stalled cell is reported by name, not as a traceback
    of ours."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    _writable(args.out, "--out")
    try:
        path = chapters.execute(args.name, args.out, timeout=args.timeout)
    except ValueError as e:
        raise UsageError(e) from None
    except CellExecutionError as e:
        print(str(e), file=sys.stderr)  # the failing cell and its traceback, from the kernel
        print(f"error: a cell of chapter {args.name!r} failed (above)", file=sys.stderr)
        return 1
    except CellTimeoutError:
        print(
            f"error: a cell of chapter {args.name!r} ran past --timeout {args.timeout} s and "
            "was stopped; give it longer with --timeout",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {path} (open it in Jupyter: jupyter notebook {path})")
    return 0


def _check_device(device: str | None) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda, but this machine has no CUDA GPU (use --device cpu)")


def _check_run(args: argparse.Namespace) -> None:
    """Workers and run names of ``run``."""
    try:
        check(args.grid, tuple(args.runs or ()), args.workers)
    except ValueError as e:
        raise UsageError(e) from None


def config(args: argparse.Namespace) -> TrainConfig:
    """The configuration ``train`` runs: the preset with every option given on the command line;
    one the net builder refuses (a width that leaves a layer no channels) is a ``UsageError``."""
    overrides = {"compile": args.compile} | ({"epochs": args.epochs} if args.epochs else {})
    try:
        cfg = preset("smoke" if args.smoke else args.preset, **overrides, **_chosen(args))
        cfg.spec()  # a width or head the builder refuses, before any data loads
    except ValueError as e:
        raise UsageError(e) from None
    return cfg


def _memory(device: torch.device) -> int:
    """Bytes of memory on ``device`` (the CPU: physical memory)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _check_size(cfg: TrainConfig | ImageNetConfig, device: torch.device) -> None:
    """Refuse a net whose weights, gradients and momentum alone (fp32) exceed the device's
    memory, counted on the meta device without allocating anything."""
    try:
        with torch.device("meta"):
            params = sum(p.numel() for p in build(cfg.spec()).parameters())
    except (RuntimeError, TypeError, OverflowError):  # sizes past what a tensor can hold
        params = math.inf
    need, have = params * 4 * 3, _memory(device)
    if need > have:
        size = (
            "more parameters than a tensor can hold"
            if params == math.inf
            else f"{params:.3g} parameters, whose weights, gradients and momentum alone need "
            f"{need / 2**30:.3g} GiB, more than the {have / 2**30:.3g} GiB of the {device.type}"
        )
        raise UsageError(f"--width {cfg.width:g} and --fc-width {cfg.fc_width}: a net of {size}")


def _check_checkpoints(paths: list[Path]) -> None:
    """Each checkpoint that exists is a whole file: a cut-off one has lost the zip directory at
    its end (``train`` still checks the rest when it loads it)."""
    for path in paths:
        if path.exists() and not (path.is_file() and zipfile.is_zipfile(path)):
            raise UsageError(
                f"{path}: unreadable checkpoint (cut short, or not a checkpoint); delete it to "
                "start this run over"
            )


def _check_results(out: Path) -> None:
    """Every results file a grid reads under ``out`` (``out/<grid>/*.json``) is UTF-8 JSON: one
    that is not is named, instead of stopping every grid with a decoding error."""
    for path in sorted(out.glob("*/*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            why = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e
            raise UsageError(
                f"{path}: not a readable results file ({why}); move it out of {out} or delete "
                "it (a deleted run is trained again), then run the same command again"
            ) from None


def _check_warm_start(cfg: TrainConfig | ImageNetConfig, spec: VGGSpec | None = None) -> None:
    """The warm-start net exists, is a saved net, and fits the net to be trained (``spec``,
    default: the configuration's)."""
    if not cfg.warm_start:
        return
    path = Path(cfg.warm_start)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise UsageError(f"--warm-start {path}: {what}; give a net saved by --save-model")
    try:
        source = load_model(path)
    except (OSError, ValueError) as e:  # an unreadable file, or not a net saved by save_model
        raise UsageError(f"--warm-start {e}") from None
    try:
        warm_start(build(spec or cfg.spec()), source)
    except ValueError as e:
        raise UsageError(f"--warm-start {path}: {e}") from None


def _writable(folder: Path, option: str) -> None:
    """Make ``folder`` and write a file in it, so that no training is lost to a bad path."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UsageError(f"{option} {folder}: cannot write there ({e.strerror or e})") from None


def export(model_path: Path, dest: Path, result_path: Path | None) -> None:
    """Store a trained net in fp16 at ``dest``, with the results file of the run that trained
    it beside it; a results file of another run is refused before anything is written."""
    model = load_model(model_path)
    if result_path is not None:
        result = load_result(result_path)
        trained = TrainConfig.from_dict(result["config"]).spec(
            model.spec.num_classes, model.spec.resolution
        )
        recorded = result.get("model_sha256")
        if trained != model.spec or (recorded and recorded != weights_digest(model)):
            raise ValueError(
                f"{result_path} is the results file of another run than the one that trained "
                f"{model_path} ({'other weights' if trained == model.spec else 'another net'})"
            )
        if not recorded:  # older results files, and diverged runs, name no weights
            raise ValueError(
                f"{result_path} records no model_sha256, so it cannot be matched to "
                f"{model_path} (another seed trains the same net): train the run again"
            )
    for path in (dest, *([dest.with_suffix(".json")] if result_path is not None else [])):
        if path.is_dir():
            raise ValueError(f"{path} is a folder; give the file to write")
    _writable(dest.parent, "export DEST")
    save_model(model, dest, dtype=torch.float16)
    if result_path is not None:
        try:
            save_result(result, dest.with_suffix(".json"))
        except BaseException:
            dest.unlink(missing_ok=True)  # never a net without its results file
            raise


def _chosen(args: argparse.Namespace) -> dict:
    """The training options given on the command line (those not given keep the preset's)."""
    chosen = {name: getattr(args, name) for name in TRAIN_OPTIONS}
    if chosen["warm_start"] is not None:
        chosen["warm_start"] = str(chosen["warm_start"])
    return {k: v for k, v in chosen.items() if v is not None}


def run_tag(cfg: TrainConfig | ImageNetConfig) -> str:
    """A single run's file name: 'vgg11_bn-kaiming-s0-' and a digest of its whole configuration,
    so that runs of two configurations never share a results file or a checkpoint."""
    config = json.dumps(asdict(cfg), sort_keys=True, default=list)
    digest = hashlib.sha256(config.encode()).hexdigest()[:8]
    return f"{cfg.arch}{'_bn' if cfg.batch_norm else ''}-{cfg.init}-s{cfg.seed}-{digest}"
