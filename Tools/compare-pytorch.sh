#!/usr/bin/env bash
# Times the PyTorch reference and `zsm infer` on the same window, one after the other, with
# the same thread count, and prints the ratio of their times per output frame. Needs torch
# (see Tools/reference/README.md) and a fixture directory holding model.pth and input.bin
# (make one with Tools/reference/make_fixture.py --io-only).
#
#   Tools/compare-pytorch.sh FIXTURE_DIR [THREADS] [RUNS] [PYTHON]
#
# Both sides: one warm-up window, then RUNS timed windows, median. ZSM's figure comes from a
# release build for this CPU. PyTorch runs the same configuration and size with random
# weights (its speed does not depend on the values).
set -euo pipefail
dir=${1:?usage: $0 FIXTURE_DIR [THREADS] [RUNS] [PYTHON]}
threads=${2:-2}
runs=${3:-3}
python=${4:-python3}
here=$(cd "$(dirname "$0")" && pwd)
swift build -c release --package-path "$here/.." >/dev/null
zsm="$here/../.build/release/zsm"
read -r frames height width < <("$python" - "$dir/input.bin" <<'PY'
import json, struct, sys
b = open(sys.argv[1], 'rb').read(4096)
h = json.loads(b[12:12 + struct.unpack('<I', b[8:12])[0]])
print(h['shape'][1], h['shape'][3], h['shape'][4])
PY
)
config=$("$zsm" inspect "$dir/model.pth" --size "${width}x${height}" --frames "$frames" |
  sed -n 's/^configuration *nf \([0-9]*\), \([0-9]*\) deformable groups, \([0-9]*\) + \([0-9]*\) residual blocks.*/\1,\2,\3,\4/p')
echo "window: $frames frames of ${width}x${height}, config $config, $threads threads, $runs runs"
torch_json=$("$python" "$here/reference/bench_cpu.py" --size "${width}x${height}" --frames "$frames" \
  --threads "$threads" --runs "$runs" --config "$config")
echo "pytorch: $torch_json"
zsm_log=$("$zsm" infer --model "$dir/model.pth" --input "$dir/input.bin" --output /tmp/zsm-compare-out.bin \
  --threads "$threads" --runs $((runs + 1)) 2>&1)
echo "$zsm_log" | sed 's/^/zsm: /'
torch_frame=$(echo "$torch_json" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["median_per_output_frame_s"])')
zsm_frame=$(echo "$zsm_log" | sed -n 's/.*= \([0-9.]*\) s per output frame/\1/p')
"$python" -c "print(f'per output frame: pytorch {$torch_frame:.3f} s, zsm {$zsm_frame:.3f} s, ratio {$torch_frame / $zsm_frame:.2f}x')"
