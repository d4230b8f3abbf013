"""Smoke tests of the benchmark scripts (tiny settings on the CPU, run in-process) and of the
GPU window script (at smoke size, as a subprocess)."""

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest
from conftest import REAL_ARCHIVE

from vggrepro.analysis.cost import totals
from vggrepro.arch.configs import VGGSpec

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their shared helpers from there


def load(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` by its own name (the folder is on ``sys.path``), so that
    the processes a benchmark spawns can import it too."""
    return importlib.import_module(name)


def test_throughput_measures_both_paths(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "throughput.json"
    result = load("throughput").main(
        [
            "--device", "cpu", "--data", "synthetic", "--synthetic-images", "40",
            "--steps", "2", "--warmup", "1", "--batch-size", "4", "--num-workers", "1",
            "--json", str(out),
        ]
    )  # fmt: skip
    fast, naive = result["fast"]["images_per_s"], result["naive"]["images_per_s"]
    assert fast > 0 and naive > 0
    assert result["ratio"] == fast / naive
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert result["data"] == {"source": "synthetic", "synthetic": True, "n_images": 40}
    assert result["provenance"]["device_type"] == "cpu"
    printed = capsys.readouterr().out
    assert "SYNTHETIC" in printed
    assert f"ratio fast / naive: {fast / naive:.2f}" in printed


def test_vgg16_step_reports_mfu_against_the_given_peak(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bench = load("vgg16_step")
    out = tmp_path / "vgg16.json"
    common = ["--device", "cpu", "--resolution", "32", "--batch-size", "2", "--steps", "1"]
    result = bench.main([*common, "--warmup", "0", "--peak-tflops", "0.5", "--json", str(out)])
    macs = totals(VGGSpec("D", resolution=32))["macs"]
    assert result["macs_per_image"] == macs and result["images_per_s"] > 0
    assert result["mfu"] == pytest.approx(6 * macs * result["images_per_s"] / 0.5e12)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert "MFU: " in capsys.readouterr().out

    result = bench.main([*common, "--warmup", "0"])  # no peak known for a CPU
    assert result["mfu"] is None and result["peak_tflops"] is None
    assert "MFU: not available" in capsys.readouterr().out


def test_peak_table_matches_device_names() -> None:
    peak = load("vgg16_step").peak_tflops
    assert peak("NVIDIA H100 80GB HBM3") == peak("NVIDIA H200") == 1979 / 2
    assert peak("NVIDIA H100 SXM5 80GB") == 1979 / 2  # dense: half the datasheet's sparse figure
    assert peak("NVIDIA H100 PCIe") is None  # not in the table: --peak-tflops
    assert peak("CPU: x86_64 (2 cores)") is None


def test_cpu_tier_prints_each_variant_against_the_old_path(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cpu.json"
    argv = ["--steps", "1", "--warmup", "0", "--batch-size", "4", "--processes", "2"]
    result = load("cpu_tier").main([*argv, "--json", str(out)])
    variants = result["variants"]
    assert set(variants) == {"old", "channels_last", "batch 256", "bf16", "one process per core"}
    assert all(v["images_per_s"] > 0 for v in variants.values())
    old, tier = variants["old"]["images_per_s"], variants["one process per core"]["images_per_s"]
    assert result["ratio"] == pytest.approx(tier / old) and variants["old"]["vs_old"] == 1.0
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    printed = capsys.readouterr().out
    assert f"old path: {result['ratio']:.2f}" in printed


def write_stat(path: Path, busy: int, idle: int) -> None:
    path.write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n")


@pytest.mark.parametrize("busy, idle, warned", [(150, 50, True), (10, 190, False)])
def test_a_busy_machine_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture, busy: int, idle: int, warned: bool
) -> None:
    common = load("common")
    stat = tmp_path / "stat"
    write_stat(stat, 1000, 1000)
    share = common.warn_if_busy(
        0, stat=stat, sleep=lambda _: write_stat(stat, 1000 + busy, 1000 + idle)
    )
    assert share == pytest.approx(busy / (busy + idle))
    assert ("warning: the CPU was" in capsys.readouterr().err) is warned
    assert common.cpu_busy(0, stat=tmp_path / "absent") is None


def window(out: Path, budget: int, steps: str, cache: Path) -> subprocess.CompletedProcess:
    """``benchmarks/gpu_window.sh`` at smoke size on the CPU, only ``steps``, into ``out``."""
    env = {
        **os.environ,
        "SMOKE": "1",
        "STEPS": steps,
        "GPU_WORKERS": "1",
        "PYTHON": sys.executable,
        "VGGREPRO_DATA": str(REAL_ARCHIVE),
        "VGGREPRO_CACHE": str(cache),
    }
    script = BENCHMARKS / "gpu_window.sh"
    return subprocess.run(
        ["bash", str(script), str(out), str(budget)],
        cwd=BENCHMARKS.parent, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def members(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {m.name for m in tar.getmembers() if m.isfile()}


def test_gpu_window_records_its_steps_and_packs_them(real_cache: Path, tmp_path: Path) -> None:
    done = window(tmp_path, 300, "data lrn", real_cache)
    assert done.returncode == 0, done.stderr
    runs = {f"results/smoke/lrn/{r}-s{s}.json" for r in ("vgg11", "vgg11_lrn") for s in (0, 1)}
    files = members(tmp_path / "gpu-window.tar.gz")
    assert runs <= files and {"logs/lrn.log", "logs/summary.txt"} <= files
    assert not any("benchmarks/" in f for f in files)  # steps not asked for do not run
    assert "== lrn: exit 0" in done.stdout and "packed 4 results files" in done.stdout


def test_gpu_window_skips_what_its_budget_leaves_no_time_for(
    real_cache: Path, tmp_path: Path
) -> None:
    done = window(tmp_path, 30, "data lrn", real_cache)  # 20 s are kept for packing
    assert done.returncode == 0, done.stderr
    assert "== data: skipped, no time left" in done.stdout and "== lrn: skipped" in done.stdout
    assert members(tmp_path / "gpu-window.tar.gz") == {"logs/summary.txt"}


def test_gpu_window_refuses_to_record_without_the_commit(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SMOKE", "VGGREPRO_GIT_COMMIT")}
    done = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_window.sh"), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "VGGREPRO_GIT_COMMIT" in done.stderr
    assert not (tmp_path / "gpu-window.tar.gz").exists()
