#!/usr/bin/env bash
# The GPU checks of issue 8 in one run, for a machine with one NVIDIA GPU and no network (the `device`
# tool's H100/H200 machines: Python 3.12 with PyTorch, torchvision, numba, scipy, pandas and matplotlib,
# none of PyAV, facenet-pytorch or librosa). Writes everything it measures to $OUT (default ./device-out).
#
# Before, on a machine with pip (the wheels are not committed; .git/info/exclude ignores /.whl/):
#   P="--no-deps --only-binary=:all: --python-version 3.12 --implementation cp -d .whl
#      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
#      --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
#   pip download $P av==18.1.0 facenet-pytorch==2.5.3 librosa==0.11.0 audioread pooch soxr soundfile \
#       decorator pympi-ling webvtt-py platformdirs cffi pycparser          # about 39 MB
# Then, with the wheels carried:  bash bench/device_check.sh   (about 6 minutes on an H100)
# A dry run of the same steps on a CPU machine, in an installed environment (the GPU tests skip):
#   DEVICE=cpu WHEELS= PY=python bash bench/device_check.sh
#
# What it runs, in order, each step's output in $OUT/*.log:
#   1. tests/test_gpu.py (CUDA against CPU, batch sizes, mixed precision, detection on the GPU)
#   2. the 720p bench on the GPU and on this machine's CPU, in the same run (x ceiling, real-time factor)
#   3. a folder of 8 720p files of 60 s with --device cuda: the 300x real time is over a folder
set -uo pipefail
export OUT=${OUT:-$PWD/device-out} DEVICE=${DEVICE:-cuda} PY=${PY:-python3} PYTHONUNBUFFERED=1
WHEELS=${WHEELS-.whl}
mkdir -p "$OUT"
if [ -n "$WHEELS" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl \
    || { echo "could not install the carried wheels from $WHEELS"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1; nproc; \
  $PY -c "import torch, av, librosa, facenet_pytorch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'av', av.__version__, 'librosa', librosa.__version__)"; \
  git log -1 --format='commit %H' 2>/dev/null; } | tee "$OUT/machine.txt"

step() {  # step NAME TIMEOUT_S COMMAND...: run it with a limit, keep its log, go on whatever happens
  local name=$1 limit=$2; shift 2
  echo "== $name"
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  echo "   exit $? ($name.log)"; tail -n 25 "$OUT/$name.log"
}

step gpu_tests 150 $PY -m pytest -q -p no:cacheprovider tests/test_gpu.py
step bench_720p 240 $PY bench/bench_pipeline.py --clips 720p --device "$DEVICE" --no-stages --cache-dir /tmp/bench \
  --run-args "--batch-size 256" --json "$OUT/bench_gpu.json"
step bench_720p_cpu 150 $PY bench/bench_pipeline.py --clips 720p --device cpu --no-stages --no-ceiling \
  --cache-dir /tmp/bench --json "$OUT/bench_cpu.json"
folder() {  # 8 hard links to the made 720p clip: one `emoannotate run` over the folder, timed from outside
  mkdir -p /tmp/folder && for i in 1 2 3 4 5 6 7 8; do ln -f /tmp/bench/talking_720p_60s.mp4 /tmp/folder/clip$i.mp4; done
  local t0; t0=$(date +%s.%N)
  $PY -m emoannotate run /tmp/folder --out "$OUT/folder.csv" --overwrite -q --device "$DEVICE" --batch-size 256 || return
  $PY -c "import sys; s = float(sys.argv[2]) - float(sys.argv[1]); print(f'8 files, 480 s of video in {s:.1f} s: {480 / s:.0f}x real time')" \
    "$t0" "$(date +%s.%N)"
}
export -f folder
step folder 200 bash -c folder
echo "done: $OUT"
