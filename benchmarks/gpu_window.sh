#!/usr/bin/env bash
# One prepared window on a lent GPU: the benchmarks, then the GPU-tier grids, in priority order,
# all under one time budget, packed into one archive whatever happens.
#
#   benchmarks/gpu_window.sh OUT [BUDGET_S]
#
# Steps, each given only the time left (a step cut short loses its unfinished runs, never the
# finished ones: every results file is written whole when its run ends):
#   1. decode the data once (into a cache every later step reads);
#   2. benchmarks/throughput.py (fast data path against a naive DataLoader) and
#      benchmarks/vgg16_step.py (full-size VGG-16 bf16 step and its MFU);
#   3. the depth grid with batch norm at the `reduced` preset, 3 seeds;
#   4. the depth grid without batch norm;
#   5. the ablation grids (filters, lrn, 1x1, init).
# OUT/gpu-window.tar.gz then holds results/ (runs/ and benchmarks/) and the logs, laid out as in
# the checkout: `tar -xzf gpu-window.tar.gz` in the checkout's root puts them in place.
#
# Environment:
#   VGGREPRO_DATA        default .data/cifar10-jpeg.tar.gz (an ignored folder, carried along);
#   VGGREPRO_GIT_COMMIT  required unless SMOKE=1: the device's copy of the tree carries a stale
#                        .git, so the results record this commit instead;
#   GPU_WORKERS          runs trained at once, default 6;
#   PYTHON               default python3;
#   STEPS                the steps to run, default all: data throughput vgg16-step depth-bn
#                        depth filters lrn 1x1 init;
#   SMOKE=1              tiny CPU settings: a test of this script, never a result.
# Wheels in .whl/ are installed first when present (jsonschema is not on the GPU machine's image).
set -uo pipefail
if [ "${SMOKE:-0}" != 1 ] && [ -z "${VGGREPRO_GIT_COMMIT:-}" ]; then
  echo "error: set VGGREPRO_GIT_COMMIT=\$(git rev-parse HEAD) (the results record it)" >&2
  exit 2
fi

out=${1:?usage: benchmarks/gpu_window.sh OUT [BUDGET_S]}
budget=${2:-480}
start=$(date +%s)
py=${PYTHON:-python3}
workers=${GPU_WORKERS:-6}
work=$(mktemp -d)
mkdir -p "$out" "$work/results/benchmarks" "$work/logs"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export VGGREPRO_DATA=${VGGREPRO_DATA:-.data/cifar10-jpeg.tar.gz}
export VGGREPRO_CACHE=${VGGREPRO_CACHE:-$work/cache}
reserve=20 # seconds kept for packing the archive

pack() {
  "$py" - "$work/results" <<'EOF' >"$work/logs/summary.txt" 2>&1
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1]).rglob("*.json")):
    r = json.loads(path.read_text())
    centre = r.get("test", {}).get("centre", {})
    line = f"{path.relative_to(sys.argv[1])}: {r.get('status', '')}"
    if centre:
        line += f" top1 error {centre['top1_error']:.2f}% in {r['wall_time_s']:.0f} s"
    print(line)
EOF
  cat "$work/logs/summary.txt"
  tar -czf "$out/gpu-window.tar.gz" -C "$work" results logs
  echo "packed $(find "$work/results" -name '*.json' | wc -l) results files into $out/gpu-window.tar.gz"
}
trap pack EXIT

# Run "$@" as step $1 with the time that is left; log its output; report its exit code.
step() {
  local name=$1
  shift
  if [[ " ${STEPS:-$name} " != *" $name "* ]]; then
    return
  fi
  local left=$((budget - reserve - ($(date +%s) - start)))
  if ((left < 15)); then
    echo "== $name: skipped, no time left"
    return
  fi
  echo "== $name: started at $(($(date +%s) - start)) s, $left s left"
  timeout --signal=INT --kill-after=10 "$left" "$@" >"$work/logs/$name.log" 2>&1
  local rc=$?
  tail -n 3 "$work/logs/$name.log"
  echo "== $name: exit $rc at $(($(date +%s) - start)) s"
}

if [ -d .whl ] && ! "$py" -c "import jsonschema" 2>/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$work/site" .whl/*.whl
  export PYTHONPATH="$PYTHONPATH:$work/site"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
echo "commit ${VGGREPRO_GIT_COMMIT:-unknown}, data $VGGREPRO_DATA, budget $budget s, $workers workers"

if [ "${SMOKE:-0}" = 1 ]; then
  tier=smoke
  device=cpu
  bench=(--device cpu --steps 2 --warmup 1)
  vgg16=(--device cpu --steps 1 --warmup 1 --batch-size 2 --resolution 64)
  suffix=smoke
else
  tier=reduced
  device=cuda
  bench=()
  vgg16=()
  suffix=cuda
fi
folder=$([ "$tier" = smoke ] && echo smoke || echo runs)
grid=("$py" -m vggrepro run --preset "$tier" --device "$device" --workers "$workers" --quiet
  --out "$work/results/$folder" --checkpoints "$work/checkpoints")

step data "$py" -c "from vggrepro.engine.data import load_cifar10; print(load_cifar10(progress=False).source)"
step throughput "$py" benchmarks/throughput.py "${bench[@]}" \
  --json "$work/results/benchmarks/throughput-$suffix.json"
step vgg16-step "$py" benchmarks/vgg16_step.py "${vgg16[@]}" \
  --json "$work/results/benchmarks/vgg16-step-$suffix.json"
step depth-bn "${grid[@]}" depth --runs vgg11_bn vgg13_bn vgg16_bn vgg19_bn
step depth "${grid[@]}" depth --runs vgg11 vgg13 vgg16 vgg19
for ablation in filters lrn 1x1 init; do
  step "$ablation" "${grid[@]}" "$ablation"
done
