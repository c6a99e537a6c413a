#!/usr/bin/env bash
# GPU check on a machine with an NVIDIA GPU and JAX, without TensorFlow or a package index.
#
# It installs nothing. It needs, importable by python3: jax with CUDA support, keras (3.x),
# its small dependencies (namex, optree, ml_dtypes, h5py, rich, absl), numpy, pandas, scipy,
# pytest and hypothesis. Wheels of keras, namex and optree can be carried to such a machine
# and installed with `pip install --no-deps --no-index <wheels>` before running this.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]     # default OUT_DIR: benchmarks/results
#
# Writes OUT_DIR/gpu_check.txt (environment, test summary) and the speed figures of
# benchmarks/bench_speed.py on JAX (OUT_DIR/speed_jax_gpu.json).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results}"
mkdir -p "$out"
export KERAS_BACKEND=jax
report="$out/gpu_check.txt"

missing=()
for module in jax keras numpy pandas scipy pytest hypothesis; do
  python3 -c "import $module" 2>/dev/null || missing+=("$module")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "gpu_check: missing Python modules: ${missing[*]} (see the header of this script)" >&2
  exit 2
fi
platform="$(python3 -c 'import jax; print(jax.default_backend())')"
if [ "$platform" != "gpu" ]; then
  echo "gpu_check: JAX sees no GPU (default backend: $platform); nothing to check" >&2
  exit 2
fi

{
  echo "# keras-hem GPU check"
  python3 -c 'import jax, keras; print("jax", jax.__version__, "keras", keras.__version__); print(jax.devices())'
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
} > "$report"

# The model, distribution and keras.ops tests on the GPU (tests needing TensorFlow or the
# MovieLens files skip themselves).
PYTHONPATH=. python3 -m pytest -q -p no:cacheprovider tests/models tests/layers tests/losses \
  tests/mining tests/data 2>&1 | tail -n 15 | tee -a "$report"
tests_status=${PIPESTATUS[0]}

PYTHONPATH=. python3 benchmarks/bench_speed.py --out "$out/speed_jax_gpu.json" 2>&1 \
  | tail -n 30 | tee -a "$report"
bench_status=${PIPESTATUS[0]}
echo "tests exit $tests_status, bench_speed exit $bench_status" | tee -a "$report"
[ "$tests_status" -eq 0 ] && [ "$bench_status" -eq 0 ]
