#!/bin/bash
# Tests/VM/run.sh - the video integration tests on real kernel drivers.
#
# Installs what it needs (apt), builds zsm-vmtest and zsm for a CPU that QEMU's TCG emulates
# (x86-64-v3, Boards/x86_64-avx2.json: AVX2 + FMA; the host's AVX-512 would not run there) in
# .build-v3 (the scratch path .ci/run's x86-64-v3 stage has already built), boots a VM with the
# vivid camera and the vkms display (Tests/VM/run-vm.sh) and runs Tests/VM/guest.sh in it.
# Exit status 0 only if every check passed. Needs root (apt, /dev/kvm is not needed).
#
# Time limits scale with the host: the VM is stopped after 400 s without console output counted
# at the host speed measured every 15 s (qemu's CPU share and a timed shell loop), or 1800 s in
# all; the guest's waits are stretched by the speed before boot. The log says what was measured.
#
# Environment: WORK (VM cache, default /tmp/vmtest), ZSM_VM_CPU (an LLVM CPU name to build for
# instead, in .build-vm),
# SWIFT (default: swift on PATH, else /opt/swift/usr/bin/swift), ZSM_VM_TIMING=report
# (the two checks that depend on the host's speed are reported but do not fail the run: under
# software emulation on a busy host the guest cannot always convert 25 camera frames a second,
# nor ask for each page flip within one vblank of the last; how each flip is scheduled is
# still checked strictly).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export WORK=${WORK:-/tmp/vmtest}
SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
T0=$(date +%s)

need=()
for p in qemu-system-x86 busybox-static v4l-utils libdrm-tests libdrm-dev libv4l-dev kmod cpio gcc make \
         pkg-config xz-utils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

if [ -n "${ZSM_VM_CPU:-}" ]; then
  BUILD=(env ZSM_TARGET_CPU="$ZSM_VM_CPU") SCRATCH=$ROOT/.build-vm
else
  BUILD=(env ZSM_BOARD=x86_64-avx2) SCRATCH=$ROOT/.build-v3
fi
echo "== building zsm-vmtest and zsm (${BUILD[*]:1}, $SCRATCH)"
for product in zsm-vmtest zsm; do
  (cd "$ROOT" && "${BUILD[@]}" "$SWIFT" build -c release --product $product --scratch-path "$SCRATCH" 2>&1 | tail -1)
done
BIN=$SCRATCH/release/zsm-vmtest
ZSM=$SCRATCH/release/zsm

# Host speed. The VM is emulated (TCG), so how far the guest gets in a wall-clock second depends
# on how much CPU qemu gets beside the host's other jobs, which come and go during a run, and on
# the host itself (a loaded CI host ran out of a fixed 400 s limit, exit 124, while the guest was
# still making progress). So the limit is on silence, counted at full speed: the VM is stopped
# when its console has printed nothing for 400 s at full speed (on the development host the
# whole suite takes about a minute). Every 15 s, that interval counts as (qemu's CPU time in it
# / one core) x (250 ms / a fixed 50,000-iteration shell loop's time), each at most 1; a new
# console line starts the count again. A hard limit of 1800 s of wall clock bounds the whole
# run. The guest's own waits are stretched by the loop's time before boot. The log's last line
# says what was measured.
loop_ms() {
  local t0 i=0
  t0=$(date +%s%N)
  while [ $i -lt 50000 ]; do i=$((i + 1)); done
  echo $((($(date +%s%N) - t0) / 1000000))
}
qemu_ticks() {  # utime + stime of the qemu in session $1, in clock ticks (0 before it starts)
  local pid
  pid=$(pgrep -s "$1" -x qemu-system-x86 | head -1) || true
  [ -n "$pid" ] && awk '{ print $14 + $15 }' "/proc/$pid/stat" 2> /dev/null || echo 0
}
REF_MS=250
BUDGET_S=400
HARD_S=1800
HZ=$(getconf CLK_TCK)
LOOP_MS=$( (loop_ms; loop_ms; loop_ms) | sort -n | sed -n 2p)
SCALE=$((LOOP_MS * 100 / REF_MS))
[ "$SCALE" -lt 100 ] && SCALE=100
[ "$SCALE" -gt 300 ] && SCALE=300
echo "== host speed: 50000 shell-loop iterations took ${LOOP_MS} ms (median of 3; ${REF_MS} ms = full speed):" \
  "guest waits x$(awk -v s="$SCALE" 'BEGIN{print s/100}'); the VM may be silent ${BUDGET_S} s at full speed" \
  "(${HARD_S} s in all)"

OUT=$WORK/out-zsm
rm -rf "$OUT" && mkdir -p "$OUT"
set +e
MODEL=$ROOT/Models/zsm-lite.pth   # the shipped model: zsm live and daemon run it without --model
# In its own session, so that the limit below can find its `timeout` (and so qemu).
setsid "$HERE/run-vm.sh" --out "$OUT" --timeout "$HARD_S" --smp 2 --add "$BIN" --add "$ZSM" \
  --add "$MODEL" -- "$HERE/guest.sh" "$BIN" "$ZSM" "${ZSM_VM_TIMING:-strict}" "$MODEL" "$SCALE" &
vm=$!
used_ms=0 most_ms=0 wall_s=0 over=0 loops=() shares=() last=0 last_ticks=0 lines=0
while kill -0 "$vm" 2> /dev/null; do
  sleep 1
  wall_s=$((wall_s + 1))
  [ $((wall_s % 15)) = 0 ] || continue
  ticks=$(qemu_ticks "$vm")
  if [ "$last_ticks" = 0 ]; then  # the limit counts from qemu's start (not the initramfs build)
    [ "$ticks" -gt 0 ] && last=$(date +%s%N) last_ticks=$ticks
    continue
  fi
  ms=$(loop_ms)
  now=$(date +%s%N)
  dt_ms=$(((now - last) / 1000000))
  share=$(((ticks - last_ticks) * 100000 / HZ / (dt_ms > 0 ? dt_ms : 1)))  # % of one core
  last=$now last_ticks=$ticks
  loops+=("$ms") shares+=("$share")
  speed=$((share < 100 ? share : 100))
  [ "$ms" -gt "$REF_MS" ] && speed=$((speed * REF_MS / ms))
  used_ms=$((used_ms + dt_ms * speed / 100))
  now_lines=$(wc -l < "$OUT/console.log" 2> /dev/null || echo 0)
  if [ "$now_lines" -gt "$lines" ]; then
    lines=$now_lines used_ms=0
  fi
  most_ms=$((used_ms > most_ms ? used_ms : most_ms))
  if [ "$used_ms" -ge $((BUDGET_S * 1000)) ] && kill -0 "$vm" 2> /dev/null; then
    over=1
    # Stop qemu through its `timeout` (in its own process group, in the session of run-vm.sh), as
    # the hard limit would: the console pipe then ends normally and keeps its last lines.
    pkill -TERM -s "$vm" -x timeout
    break
  fi
done
wait "$vm"
rc=$?
[ "$over" = 1 ] && rc=124
set -e
range() {  # min..max (median) of the arguments
  printf '%s\n' "$@" | sort -n | awk 'NF { a[n++] = $1 } END {
    if (n) printf "%d..%d (median %d)", a[0], a[n-1], a[int(n/2)]; else printf "none" }'
}
speeds="host loop ${LOOP_MS} ms before boot, $(range "${loops[@]:-}") ms while the VM ran; qemu $(range \
  "${shares[@]:-}")% of a core; longest silence $((most_ms / 1000)) of ${BUDGET_S} s at full speed"
echo "== summary"
grep -E '^VMTEST: (PASS|FAIL|INFO \(report-only\))|^VMTEST-SUMMARY' "$OUT/console.log" || true
if [ "$rc" = 124 ]; then
  echo "== the VM was silent for ${BUDGET_S} s at full speed, or ran ${HARD_S} s in all; its last line:"
  grep -v '^\s*$' "$OUT/console.log" | tail -1
fi
echo "== Tests/VM/run.sh: rc=$rc, $(($(date +%s) - T0)) s in all; $speeds"
exit $rc
