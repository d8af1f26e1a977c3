#!/bin/bash
# Tests/VM/systemd/run.sh - zsm daemon as a systemd service, in a VM with systemd.
#
# Boots a Debian 12 root with systemd (made once by mmdebstrap and kept as an ext4 image in
# $ZSM_VM_SYSTEMD_CACHE, default /var/cache/zsm-vm-systemd, outside the clone, so a second run
# is fast; the VM writes to a throw-away overlay, never to the image) with the kernel the VM
# suite uses (Tests/VM/run-vm.sh --setup-only, in $WORK), under qemu-system-x86_64 (TCG: no
# KVM needed). zsm is the x86-64-v3 build (.build-v3, what TCG can run), installed in the guest
# the quick start's way (/usr/local/bin, data in /usr/local/share/zsm), Deploy/zsm.service
# unmodified. guest.sh runs as a unit once the system is up and prints VMTEST: lines on the
# serial console. Exit status 0 only if every check passed; 124 = the VM ran out of time.
#
# Time limits scale with the host: guest.sh's waits are stretched by the speed of a fixed
# shell loop measured before boot (as Tests/VM/run.sh does), and the VM's hard limit is
# 600 s at full speed stretched the same way. Needs root (apt, mmdebstrap, mount-free).
#
# Environment: WORK (the VM suite's kernel cache, default /tmp/vmtest), ZSM_VM_SYSTEMD_CACHE,
# SWIFT (default: swift on PATH, else /opt/swift/usr/bin/swift).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
export WORK=${WORK:-/tmp/vmtest}
CACHE=${ZSM_VM_SYSTEMD_CACHE:-/var/cache/zsm-vm-systemd}
SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
T0=$(date +%s)
log() { echo "[systemd-vm $(date +%T)] $*"; }

need=()
for p in qemu-system-x86 mmdebstrap e2fsprogs busybox-static cpio kmod; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# The kernel: the VM suite's (Debian's linux-image, unpacked into $WORK/kroot).
"$ROOT/Tests/VM/run-vm.sh" --setup-only 2>&1 | tail -1
KERNEL=$(ls "$WORK"/kroot/boot/vmlinuz-* | tail -1)
KVER=${KERNEL##*/vmlinuz-}
KROOT=$WORK/kroot

# The root file system, made once: Debian 12 minbase with systemd (no udev: devtmpfs is enough).
# The recipe is in the image's name, so a changed recipe makes a new image.
PACKAGES=systemd,systemd-sysv,libnss-systemd,procps
IMAGE=$CACHE/bookworm-minbase-$(echo "$PACKAGES" | tr , +).ext4
if [ ! -f "$IMAGE" ]; then
  log "making $IMAGE (mmdebstrap bookworm minbase + $PACKAGES)"
  mkdir -p "$CACHE"
  rm -rf "$CACHE/root.tmp"
  mmdebstrap --quiet --variant=minbase --include="$PACKAGES" bookworm "$CACHE/root.tmp" http://deb.debian.org/debian
  rm -f "$IMAGE.tmp"
  mke2fs -q -t ext4 -L zsmroot -d "$CACHE/root.tmp" "$IMAGE.tmp" 1G
  rm -rf "$CACHE/root.tmp"
  mv "$IMAGE.tmp" "$IMAGE"
fi
log "root image $IMAGE ($(du -h "$IMAGE" | cut -f1) used)"

echo "== building zsm (x86-64-v3, .build-v3)"
(cd "$ROOT" && ZSM_BOARD=x86_64-avx2 "$SWIFT" build -c release --product zsm --scratch-path "$ROOT/.build-v3" 2>&1 \
  | tail -1)
ZSM=$ROOT/.build-v3/release/zsm

# Host speed, as Tests/VM/run.sh measures it: a fixed shell loop against the development host.
loop_ms() {
  local t0 i=0
  t0=$(date +%s%N)
  while [ $i -lt 50000 ]; do i=$((i + 1)); done
  echo $((($(date +%s%N) - t0) / 1000000))
}
LOOP_MS=$( (loop_ms; loop_ms; loop_ms) | sort -n | sed -n 2p)
SCALE=$((LOOP_MS * 100 / 250))
[ "$SCALE" -lt 100 ] && SCALE=100
[ "$SCALE" -gt 300 ] && SCALE=300
LIMIT_S=$((600 * SCALE / 100))
log "host speed: 50000 shell-loop iterations took ${LOOP_MS} ms (250 ms = full speed): waits x$SCALE%," \
  "VM limit ${LIMIT_S} s"

# The initramfs: busybox, the modules for the root disk, the payload, an init that mounts the
# root, copies the payload into it, enables the test unit and hands over to systemd.
STAGE=$WORK/systemd-stage.$$
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,proc,sys,dev,newroot,payload/lib,payload/share}
cp /bin/busybox "$STAGE/bin/busybox"
for a in sh mount umount insmod mkdir cp ln cat echo switch_root sleep; do ln -s busybox "$STAGE/bin/$a"; done
: > "$STAGE/modules"
for m in virtio_pci virtio_blk crc32c_generic ext4; do  # ext4 needs crc32c (a soft dependency)
  modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
    rel=${ko#"$KROOT"}
    grep -qx "$rel" "$STAGE/modules" && continue
    mkdir -p "$STAGE$(dirname "$rel")" && cp "$ko" "$STAGE$rel" && echo "$rel" >> "$STAGE/modules"
  done
done
P=$STAGE/payload
cp "$ZSM" "$P/zsm"
cp -r "$ROOT/Models" "$ROOT/Boards" "$ROOT/Calibration" "$P/share/"
# zsm's shared libraries (the Swift runtime, libv4l2, libdrm) at the paths it was linked with,
# their folders resolved (/lib is a link to /usr/lib on both sides).
for lib in $(ldd "$ZSM" | awk '/=> \// { print $3 }'); do
  case "$lib" in */libc.so.* | */libm.so.* | */ld-linux*) continue ;; esac
  dir=$(readlink -f "$(dirname "$lib")")
  mkdir -p "$P/lib$dir" && cp -L "$lib" "$P/lib$dir/$(basename "$lib")"
done
cp "$ROOT/Deploy/zsm.service" "$P/zsm.service"   # as shipped
cat > "$P/daemon.json" << 'JSON'
{
  "threads": 1,
  "window": 2,
  "source": { "type": "y4m", "path": "input.fifo" },
  "sink": { "type": "y4m-rotate", "directory": "out", "framesPerFile": 100 },
  "metrics": "zsm.prom"
}
JSON
# An 8x8 4:2:0 clip: a header and 3 frames, then 2 more frames without a header (96 bytes each).
frame() { printf 'FRAME\n'; head -c 96 /dev/urandom | tr '\n' ' '; }
{ printf 'YUV4MPEG2 W8 H8 F25:1 Ip A1:1 C420jpeg\n'; frame; frame; frame; } > "$P/clip.y4m"
{ frame; frame; } > "$P/more.bin"
echo "$SCALE" > "$P/scale"
cp "$HERE/guest.sh" "$HERE/zsm-vmtest.service" "$P/"
cat > "$STAGE/init" << 'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r ko; do insmod "$ko"; done < /modules
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 /dev/vda /newroot || { echo "VMTEST: FAIL cannot mount the root disk"; echo "VMTEST-RESULT: rc=99"; exit 1; }
cp -a /payload /newroot/
mkdir -p /newroot/etc/systemd/system/multi-user.target.wants
cp /payload/zsm-vmtest.service /newroot/etc/systemd/system/
ln -sf ../zsm-vmtest.service /newroot/etc/systemd/system/multi-user.target.wants/zsm-vmtest.service
echo "VMTEST: init: root mounted, payload copied, starting systemd"
umount /proc /sys /dev
exec switch_root /newroot /lib/systemd/systemd
INIT
chmod +x "$STAGE/init"
INITRD=$WORK/systemd-initrd.$$.cpio
(cd "$STAGE" && find . -print0 | cpio --null -o -H newc --owner=0:0 --quiet) > "$INITRD"
rm -rf "$STAGE"
log "initramfs $(du -h "$INITRD" | cut -f1)"

OUT=$WORK/out-systemd
mkdir -p "$OUT"
log "booting (tcg, 1024 MiB, 2 cpus); console -> $OUT/console.log"
# No getty: nothing logs in, and without udev their ttys never appear as devices.
APPEND="console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off systemd.show_status=false"
APPEND+=" systemd.mask=serial-getty@ttyS0.service systemd.mask=getty@tty1.service"
T_BOOT=$(date +%s)
set +e
timeout -k 5 "$LIMIT_S" qemu-system-x86_64 -nodefaults -no-reboot -display none -vga none -m 1024 -smp 2 \
  -accel tcg -cpu max -kernel "$KERNEL" -initrd "$INITRD" \
  -append "$APPEND" \
  -drive "file=$IMAGE,format=raw,if=virtio,snapshot=on" -serial stdio -monitor none < /dev/null 2>&1 \
  | stdbuf -oL tr -d '\r' | tee "$OUT/console.log"
QRC=${PIPESTATUS[0]}
set -e
rm -f "$INITRD"
# guest.sh's lines reach the console through the journal, behind "[uptime] guest.sh[pid]: ".
RC=$(sed -n 's/.*VMTEST-RESULT: rc=\([0-9]*\).*/\1/p' "$OUT/console.log" | tail -1)
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
  RC=124
elif [ -z "$RC" ]; then
  RC=125
fi
echo "== summary"
grep -E 'VMTEST: (PASS|FAIL)|VMTEST-SUMMARY' "$OUT/console.log" | sed 's/^.*guest\.sh\[[0-9]*\]: //' || true
[ "$RC" = 124 ] && echo "== the VM ran out of its ${LIMIT_S} s; its last line: $(grep -v '^\s*$' "$OUT/console.log" | tail -1)"
echo "== Tests/VM/systemd/run.sh: rc=$RC, VM $(($(date +%s) - T_BOOT)) s, $(($(date +%s) - T0)) s in all" \
  "(host loop ${LOOP_MS} ms)"
exit "$RC"
