#!/usr/bin/env bash
# Executed instructions per output element of one whole network window under qemu-user, per
# precision (issue 14), with the functions they are spent in. The method of Tests/ARM64/run.sh's
# kernel counts (insncount.py: Debian's qemu-user has no TCG plugins, so the count sums the
# translated-block sizes of qemu's `-d in_asm,exec,nochain` log), on the cross-built zsm:
# `zsm infer --runs 2` minus `--runs 1` leaves one window (start-up and model loading cancel).
# The log streams through a named pipe (gigabytes otherwise). One worker thread (the pool's
# threads would interleave their log lines).
#   Tests/ARM64/network-insns.sh                      # fp32 and fp16
#   Tests/ARM64/network-insns.sh fp32 fp16 int8       # any precisions zsm infer takes
# Environment (defaults):
#   ZSM=.build-aarch64-rpi5/release/zsm   a cross-built zsm (Tests/ARM64/package.sh builds it)
#   CPU=cortex-a76                        qemu's CPU model (cortex-a72 for a Pi 4 build)
#   MODEL=Models/zsm-lite.pth             the shipped ZSM-Lite
#   INPUT=Tests/Fixtures/tiny_16x12_n2/input.bin   the window: 2 frames of 16x12 (3 output frames of 64x48)
#   ZSM_ARGS=                             more `zsm infer` arguments (e.g. --calibration FILE)
#   OUT=/tmp/zsm-arm64-insns              logs, per-function counts, summary.txt
# Needs the arm64 root of Tools/arm64-toolchain.sh (qemu -L). Prints per precision: instructions
# per window and per output element, the ratio to fp32 when fp32 is in the list, and the
# functions with the most instructions. qemu counts instructions, not time: no figure here is a
# speed, and nothing here is a board's measurement.
set -uo pipefail
cd "$(dirname "$0")/../.."
ZSM=${ZSM:-.build-aarch64-rpi5/release/zsm}
CPU=${CPU:-cortex-a76}
MODEL=${MODEL:-Models/zsm-lite.pth}
INPUT=${INPUT:-Tests/Fixtures/tiny_16x12_n2/input.bin}
OUT=${OUT:-/tmp/zsm-arm64-insns}
DEMANGLE=${DEMANGLE:-/opt/swift/usr/bin/swift-demangle}
[ $# -gt 0 ] || set -- fp32 fp16
[ -x "$ZSM" ] || {
  echo "FAIL: no cross-built zsm at $ZSM (Tests/ARM64/package.sh, or Tools/arm64-toolchain.sh build rpi5 .build-aarch64-rpi5)"
  exit 1
}
SYSROOT=$(Tools/arm64-toolchain.sh sysroot) || exit 1
mkdir -p "$OUT"
elements=$(python3 - "$INPUT" << 'PY'
import json, struct, sys
with open(sys.argv[1], 'rb') as f:
    head = f.read(12)
    shape = json.loads(f.read(struct.unpack('<I', head[8:12])[0]))['shape']
n, h, w = shape[1], shape[3], shape[4]
print((2 * n - 1) * 3 * 16 * h * w)
PY
) || exit 1
echo "window: $MODEL on $INPUT, $elements output elements, as a $CPU, 1 thread"
: > "$OUT/summary.txt"
fails=0
for p in "$@"; do
  for r in 1 2; do
    fifo="$OUT/log-$p-$r.fifo"
    rm -f "$fifo"
    mkfifo "$fifo"
    python3 Tests/ARM64/insncount.py "$fifo" --symbols "$OUT/symbols-$p-$r.txt" > "$OUT/count-$p-$r.txt" &
    counter=$!
    # shellcheck disable=SC2086
    qemu-aarch64-static -cpu "$CPU" -L "$SYSROOT" -d in_asm,exec,nochain -D "$fifo" \
      "$ZSM" infer --model "$MODEL" --input "$INPUT" --output "$OUT/output-$p.bin" --threads 1 --runs $r \
      --precision "$p" ${ZSM_ARGS:-} > "$OUT/infer-$p-$r.txt" 2>&1
    rc=$?
    wait $counter
    rm -f "$fifo"
    if [ $rc -ne 0 ]; then
      echo "FAIL: zsm infer --precision $p --runs $r exited $rc (see $OUT/infer-$p-$r.txt)"
      tail -3 "$OUT/infer-$p-$r.txt"
      fails=$((fails + 1))
      continue 2
    fi
  done
  python3 - "$p" "$elements" "$OUT" "$DEMANGLE" << 'PY' | tee -a "$OUT/summary.txt"
import os, subprocess, sys
p, elements, out, demangle = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
count = {r: int(open(f'{out}/count-{p}-{r}.txt').read()) for r in (1, 2)}
window = count[2] - count[1]
line = f'{p}: {window} instructions per window, {window / elements:.1f} per output element'
fp32 = f'{out}/count-fp32-1.txt'
if p != 'fp32' and os.path.exists(f'{out}/count-fp32-2.txt'):
    base = int(open(f'{out}/count-fp32-2.txt').read()) - int(open(fp32).read())
    line += f', {window / base:.3f}x fp32'
print(line)
sym = {}
for r, sign in ((1, -1), (2, 1)):
    for row in open(f'{out}/symbols-{p}-{r}.txt'):
        n, s = row.rstrip('\n').split('\t', 1)
        sym[s] = sym.get(s, 0) + sign * int(n)
top = sorted(sym.items(), key=lambda kv: -kv[1])[:12]
names = [s for s, _ in top]
try:
    names = subprocess.run([demangle, '--simplified'], input='\n'.join(names), capture_output=True, text=True,
                           check=True).stdout.splitlines()
except (OSError, subprocess.CalledProcessError):
    pass
for (s, n), name in zip(top, names):
    print(f'  {n / window * 100:5.1f}%  {n / elements:8.1f}/element  {name[:150]}')
PY
done
echo "summary: $OUT/summary.txt"
[ $fails -eq 0 ]
