#!/bin/bash
# Tests/VM/run.sh - the video integration tests on real kernel drivers.
#
# Installs what it needs (apt), builds zsm-vmtest for a CPU that QEMU's TCG emulates
# (haswell: AVX2 + FMA; the host's AVX-512 would not run there), boots a VM with the vivid
# camera and the vkms display (Tests/VM/run-vm.sh) and runs Tests/VM/guest.sh in it.
# Exit status 0 only if every check passed. Needs root (apt, /dev/kvm is not needed).
#
# Environment: WORK (VM cache, default /tmp/vmtest), ZSM_VM_CPU (default haswell),
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

echo "== building zsm-vmtest (ZSM_TARGET_CPU=${ZSM_VM_CPU:-haswell})"
for product in zsm-vmtest zsm; do
  (cd "$ROOT" && ZSM_TARGET_CPU=${ZSM_VM_CPU:-haswell} "$SWIFT" build -c release --product $product \
     --scratch-path "$ROOT/.build-vm" 2>&1 | tail -1)
done
BIN=$ROOT/.build-vm/release/zsm-vmtest
ZSM=$ROOT/.build-vm/release/zsm

OUT=$WORK/out-zsm
rm -rf "$OUT" && mkdir -p "$OUT"
set +e
MODEL=$ROOT/Tests/Fixtures/tiny_16x12_n2/model.pth   # small checkpoint for zsm live
"$HERE/run-vm.sh" --out "$OUT" --timeout 400 --smp 2 --add "$BIN" --add "$ZSM" --add "$MODEL" -- "$HERE/guest.sh" "$BIN" "$ZSM" "${ZSM_VM_TIMING:-strict}" "$MODEL"
rc=$?
set -e
echo "== summary"
grep -E '^VMTEST: (PASS|FAIL|INFO \(report-only\))|^VMTEST-SUMMARY' "$OUT/console.log" || true
echo "== Tests/VM/run.sh: rc=$rc, $(($(date +%s) - T0)) s in all"
exit $rc
