"""Test a recorded run's trained net again with more protocols, and add them to its results file.

The CPU tier tests its nets with the centre and flip protocols only while it trains
(``eval_scales=()``: the larger scales cost several epochs' worth of CPU time). The evaluation
chapter needs the dense, multi-scale and multi-crop protocols too. ``retest`` loads the net a
run saved, checks that it is that run's net (the weights digest its results file recorded, and
the centre-view error it gives again), tests it at ``scales`` and records the protocols it adds,
with their own provenance and wall time, under ``retest`` in the run's results file.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from tqdm import tqdm

from vggrepro.engine.data import CIFAR10
from vggrepro.engine.evaluate import evaluate
from vggrepro.engine.loader import DeviceLoader
from vggrepro.engine.nets import load_model, weights_digest
from vggrepro.engine.presets import TrainConfig
from vggrepro.engine.provenance import now, pick_device, provenance
from vggrepro.engine.train import prepare
from vggrepro.results.io import load_result, save_result

SCALES = (32, 64, 96)
"""The reduced preset's test scales: score maps of 1x1, 2x2 and 3x3 (see ``TrainConfig``)."""
AGAIN_TOLERANCE = 0.05
"""How far (points of top-1 error) the centre view tested again may lie from the recorded one:
five test images in 10,000, for sums taken in another order by another thread count."""


def retest(
    result_path: Path, model_path: Path, data: CIFAR10, scales: tuple[int, ...] = SCALES,
    device: str | None = None,
) -> dict:  # fmt: skip
    """Add every protocol at ``scales`` to the results file at ``result_path``; return it.

    Raises ``ValueError`` when the run has no trained net, when ``model_path`` holds another
    net, or when ``data`` is not the data the run was tested on.
    """
    result = load_result(result_path)
    if result["status"] == "diverged":
        raise ValueError(f"{result_path}: a diverged run has no trained net to test")
    model = load_model(model_path)
    if result.get("model_sha256") != weights_digest(model):
        raise ValueError(f"{model_path} is not the net of {result_path} (other weights)")
    if data.checksum != result["data"]["checksum"]:
        raise ValueError(f"{result_path} was tested on other data ({data.source} differs)")
    started, t0 = now(), time.perf_counter()
    where = pick_device(device)
    split = prepare(data, TrainConfig.from_dict(result["config"]), where)
    batches = DeviceLoader(
        *split.test, result["config"].get("eval_batch_size", 1000), train=False,
        mean=split.mean, std=split.std, channels_last=True,
    )  # fmt: skip
    model = model.to(where, memory_format=torch.channels_last)
    test = evaluate(model, batches, scales)
    again, recorded = test["centre"]["top1_error"], result["test"]["centre"]["top1_error"]
    if abs(again - recorded) > AGAIN_TOLERANCE:
        raise ValueError(
            f"{model_path} gives a centre top-1 error of {again:.2f}% where {result_path} "
            f"recorded {recorded:.2f}%: not the net that run tested"
        )
    added = {name: metrics for name, metrics in test.items() if name not in result["test"]}
    result["test"].update(added)
    result["retest"] = {
        "scales": list(scales),
        "protocols": sorted(added),
        "centre_top1_error_again": again,
        "started": started,
        "finished": now(),
        "wall_time_s": time.perf_counter() - t0,
        "provenance": provenance(where),
    }
    save_result(result, result_path)
    return result


def retest_grid(
    folder: Path,
    models: Path,
    data: CIFAR10,
    *,
    scales: tuple[int, ...] = SCALES,
    device: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Retest every run recorded in ``folder`` (one grid at one tier) that has not been, each
    with the net its grid saved under ``models`` (``<models>/<grid>/<run>.model.pt``); diverged
    runs have none and are left as they are. Returns the results files it changed.

    Raises ``ValueError`` naming every run whose net is missing, before testing any.
    """
    todo, missing = [], []
    for path in sorted(Path(folder).glob("*.json")):
        result = load_result(path)
        if result["status"] == "diverged" or "retest" in result:
            continue
        model = Path(models) / f"{result.get('shared_with', result['run_id'])}.model.pt"
        (todo if model.exists() else missing).append((path, model))
    if missing:
        names = ", ".join(str(model) for _, model in missing)
        raise ValueError(f"no saved net for {len(missing)} run(s): {names}")
    for path, model in tqdm(todo, desc=f"retest {Path(folder).name}", disable=not progress):
        retest(path, model, data, scales, device)
    return [path for path, _ in todo]
