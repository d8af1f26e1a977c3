#!/bin/bash
# run-vm.sh - boot a throw-away QEMU VM (Debian 6.1 kernel, busybox initramfs) with the
# virtual V4L2 camera (vivid) and the virtual KMS display (vkms) loaded, run a test command
# inside it and report back. Adapted from ../shared/tools/vm/run-vm-test.sh; Tests/VM/run.sh
# drives it with the project's own zsm-vmtest program (see Tests/VM/README.md).
#
# Usage:
#   run-vm.sh [options]                     # built-in smoke test
#   run-vm.sh [options] -- CMD [ARGS...]    # run CMD inside the VM
#
# Options:
#   --setup-only       install packages, fetch kernel, build vkms.ko; then exit
#   --add PATH         copy PATH (file or directory) into the initramfs at the
#                      same absolute path; ELF files get their shared libraries
#                      (found with ldd) copied too. Repeatable. The first word of
#                      CMD is added automatically if it is an existing host file.
#   --hostroot         do not copy CMD: share the host's / read-only over 9p and
#                      run CMD chrooted into it (host libraries are used as-is;
#                      scratch space: /run (tmpfs), TMPDIR=/run/tmp)
#   --out DIR          host results folder (default: $WORK/out). It is shared
#                      read-write over 9p and mounted in the guest at /mnt/out;
#                      CMD sees it as $VMTEST_OUT.
#   --timeout SEC      hard limit for the VM (default 600)
#   --mem MB           guest memory (default 1024)
#   --smp N            guest CPUs (default 1; 2 vCPUs boot ~1.7 s slower under TCG)
#   --kvm              use KVM (default: TCG software emulation)
#   --vivid "PARAMS"   vivid module parameters (default "n_devs=1 node_types=0x1")
#   --vkms "PARAMS"    vkms module parameters (default "enable_writeback=1")
#   --append "ARGS"    extra kernel command line
#   --keep             keep the initramfs staging folder
#   --compress C       initramfs compression: none (default; fastest under
#                      TCG), gzip, lz4, zstd
#   --module "NAME [PARAMS]"  load another module of the Debian kernel (with
#                      its dependencies) after vivid/vkms. Repeatable.
#   --qemu "ARGS"      extra qemu arguments (word-split), e.g.
#                      --module bochs --qemu "-device bochs-display"
#
# Environment: WORK (default /tmp/vmtest), KVER (default: the ABI that
# Debian's linux-image-amd64 depends on, e.g. 6.1.0-56-amd64).
#
# Exit status: the exit status of CMD in the guest (smoke test: 0 = all
# passed); 124 = VM timed out; 125 = VM ended without a result marker.
# The whole serial console is in $OUT/console.log.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${WORK:-/tmp/vmtest}
OUT=""
TIMEOUT=600 MEM=1024 SMP=1 ACCEL=tcg HOSTROOT=0 SETUP_ONLY=0 KEEP=0 COMPRESS=none
VIVID_PARAMS="n_devs=1 node_types=0x1"
VKMS_PARAMS="enable_writeback=1"
EXTRA_APPEND=""
ADD=()
EXTRA_MODS=()
EXTRA_QEMU=""

CMD=()

while [ $# -gt 0 ]; do
  case "$1" in
    --setup-only) SETUP_ONLY=1 ;;
    --add) ADD+=("$2"); shift ;;
    --hostroot) HOSTROOT=1 ;;
    --out) OUT=$2; shift ;;
    --timeout) TIMEOUT=$2; shift ;;
    --mem) MEM=$2; shift ;;
    --smp) SMP=$2; shift ;;
    --kvm) ACCEL=kvm ;;
    --vivid) VIVID_PARAMS=$2; shift ;;
    --vkms) VKMS_PARAMS=$2; shift ;;
    --append) EXTRA_APPEND=$2; shift ;;
    --keep) KEEP=1 ;;
    --compress) COMPRESS=$2; shift ;;
    --module) EXTRA_MODS+=("$2"); shift ;;
    --qemu) EXTRA_QEMU=$2; shift ;;
    --) shift; CMD=("$@"); break ;;
    -h|--help) sed -n "2,/^set -euo/p" "$0" | sed "$ d"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "[run-vm $(date +%T)] $*" >&2; }
T_START=$(date +%s.%N)
elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

mkdir -p "$WORK"
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# ----------------------------------------------------------------- setup ----
need_pkgs=()
for p in qemu-system-x86 busybox-static v4l-utils libdrm-tests libdrm-dev kmod cpio \
         gcc make pkg-config xz-utils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if [ -z "${KVER:-}" ] && ! apt-cache show linux-image-amd64 > /dev/null 2>&1; then
  apt-get update -qq
fi
if [ -z "${KVER:-}" ]; then
  KVER=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-//p' | head -1)
  [ -n "$KVER" ] || { log "cannot determine KVER (apt-get update?)"; exit 2; }
fi
KMAJMIN=$(echo "$KVER" | cut -d. -f1,2)          # 6.1
for p in "linux-headers-$KVER" "linux-source-$KMAJMIN"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing: ${need_pkgs[*]}"
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

# Kernel image + modules: unpacked from the Debian package into $WORK/kroot
# (not installed, so no initramfs-tools/grub hooks run on the host).
KROOT=$WORK/kroot
KMOD=$KROOT/lib/modules/$KVER
if [ ! -f "$KROOT/boot/vmlinuz-$KVER" ] || [ ! -d "$KMOD/kernel" ]; then
  log "fetching linux-image-$KVER"
  mkdir -p "$WORK/debs" && (cd "$WORK/debs" && apt-get download -q "linux-image-$KVER" >&2)
  rm -rf "$KROOT" && mkdir -p "$KROOT"
  dpkg-deb -x "$(ls "$WORK/debs"/linux-image-"$KVER"_*.deb | tail -1)" "$KROOT"
fi

# Debian's kernel has CONFIG_DRM_VKMS unset: build vkms.ko out of tree from
# the matching linux-source package against linux-headers-$KVER.
VKMS_KO=$KMOD/extra/vkms.ko
if [ ! -f "$VKMS_KO" ]; then
  log "building vkms.ko from linux-source-$KMAJMIN"
  rm -rf "$WORK/vkms-src" && mkdir -p "$WORK/vkms-src"
  tar -xJf "/usr/src/linux-source-$KMAJMIN.tar.xz" -C "$WORK/vkms-src" \
      "linux-source-$KMAJMIN/drivers/gpu/drm/vkms" \
      "linux-source-$KMAJMIN/drivers/gpu/drm/drm_atomic_helper.c"
  VKMS_DIR=$WORK/vkms-src/linux-source-$KMAJMIN/drivers/gpu/drm/vkms
  # Debian's 6.1.1xx kernels carry the backported "clone mode check"
  # (drm_atomic_check_valid_clones) but vkms 6.1 leaves possible_clones unset,
  # so attaching the writeback connector to the CRTC that already drives the
  # Virtual connector fails with EINVAL. Let the two vkms encoders clone.
  if grep -q drm_atomic_check_valid_clones "$VKMS_DIR/../drm_atomic_helper.c" &&
     ! grep -q possible_clones "$VKMS_DIR/vkms_output.c"; then
    log "patching vkms_output.c: possible_clones for Virtual + Writeback encoders"
    perl -0pi -e 's/(\t\t\tDRM_ERROR\("Failed to init writeback connector\\n"\);\n)/$1\t\telse {\n\t\t\tstruct drm_encoder *wb_enc = &output->wb_connector.encoder;\n\t\t\tu32 clones = drm_encoder_mask(encoder) | drm_encoder_mask(wb_enc);\n\n\t\t\tencoder->possible_clones = clones;\n\t\t\twb_enc->possible_clones = clones;\n\t\t}\n/' \
      "$VKMS_DIR/vkms_output.c"
    grep -q possible_clones "$VKMS_DIR/vkms_output.c" || log "WARNING: vkms possible_clones patch did not apply"
  fi
  make -s -C "/usr/src/linux-headers-$KVER" M="$VKMS_DIR" CONFIG_DRM_VKMS=m modules >&2
  mkdir -p "$KMOD/extra"
  cp "$VKMS_DIR/vkms.ko" "$VKMS_KO"
  depmod -b "$KROOT" "$KVER"
fi
[ -f "$KMOD/modules.dep" ] || depmod -b "$KROOT" "$KVER"

KMSTEST=$WORK/kmstest
if [ ! -x "$KMSTEST" ] || [ "$HERE/kmstest.c" -nt "$KMSTEST" ]; then
  gcc -O2 -Wall -o "$KMSTEST" "$HERE/kmstest.c" $(pkg-config --cflags --libs libdrm)
fi
log "setup done ($(elapsed) s): kernel $KVER, vkms.ko built"
[ "$SETUP_ONLY" = 1 ] && exit 0

# ------------------------------------------------------------- initramfs ----
STAGE=$WORK/stage.$$
rm -rf "$STAGE"
mkdir -p "$STAGE"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc/vmtest,proc,sys,dev,tmp,run,mnt/out,mnt/host,root}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$STAGE/$d"; done
cp /bin/busybox "$STAGE/usr/bin/busybox"
for a in $(/bin/busybox --list); do
  [ -e "$STAGE/usr/bin/$a" ] || ln -s busybox "$STAGE/usr/bin/$a"
done

# copy one host file to the same path in the stage; ELF -> also its libraries
declare -A COPIED=()
add_file() {
  local src=$1 dst
  [ -n "${COPIED[$src]:-}" ] && return 0
  COPIED[$src]=1
  dst=$STAGE$src
  mkdir -p "$(dirname "$dst")"
  rm -f "$dst"                      # never write through a busybox symlink
  cp -L "$src" "$dst"
  if head -c 4 "$src" | grep -q 'ELF'; then
    local lib
    for lib in $(ldd "$src" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}'); do
      add_file "$lib"
    done
  fi
}
add_path() {
  local p f
  p=$(cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")")   # absolute, links kept
  if [ -d "$p" ]; then
    while IFS= read -r -d '' f; do add_file "$f"; done < <(find "$p" \( -type f -o -type l \) -print0)
  else
    add_file "$(readlink -f "$p")"
    [ "$(readlink -f "$p")" = "$p" ] || { mkdir -p "$STAGE$(dirname "$p")"; rm -f "$STAGE$p"; cp -L "$p" "$STAGE$p"; }
  fi
}

# test tools (always included; small)
for b in /usr/bin/v4l2-ctl /usr/bin/modetest; do add_path "$b"; done
add_file "$KMSTEST"; mkdir -p "$STAGE/usr/local/bin"; ln -sf "$KMSTEST" "$STAGE/usr/local/bin/kmstest"
for a in "${ADD[@]}"; do add_path "$a"; done
if [ ${#CMD[@]} -gt 0 ] && [ "$HOSTROOT" = 0 ] && [ -f "${CMD[0]}" ]; then
  add_path "$(readlink -f "${CMD[0]}")"
  CMD[0]=$(readlink -f "${CMD[0]}")
fi

# kernel modules in load order (resolved on the host with kmod)
: > "$STAGE/etc/vmtest/modules"
add_mod() {   # add_mod NAME PARAMS...
  local name=$1; shift
  local line ko
  while read -r line; do
    case "$line" in insmod\ *) ;; *) continue ;; esac
    ko=$(echo "$line" | awk '{print $2}')
    local rel=${ko#"$KROOT"}
    if ! grep -q "^$rel " "$STAGE/etc/vmtest/modules" 2>/dev/null; then
      mkdir -p "$STAGE$(dirname "$rel")"
      cp "$ko" "$STAGE$rel"
      if [ "$(basename "$ko" .ko)" = "$name" ]; then
        echo "$rel $*" >> "$STAGE/etc/vmtest/modules"
      else
        echo "$rel " >> "$STAGE/etc/vmtest/modules"
      fi
    fi
  done < <(modprobe -d "$KROOT" -S "$KVER" --show-depends "$name")
}
for m in virtio_pci 9pnet_virtio 9p; do add_mod "$m"; done
add_mod vivid $VIVID_PARAMS
add_mod vkms $VKMS_PARAMS
for m in "${EXTRA_MODS[@]}"; do add_mod $m; done

# smoke test script (run when no CMD is given)
cat > "$STAGE/etc/vmtest/smoke.sh" <<'EOF'
#!/bin/sh
# built-in smoke test: vivid capture + vkms modeset/page flip/writeback
fails=0
pass() { echo "SMOKE: PASS $*"; }
fail() { echo "SMOKE: FAIL $*"; fails=$((fails+1)); }
ls -l /dev/video* /dev/dri/ 2>&1
VID=""
for v in /dev/video*; do
  if v4l2-ctl -d "$v" --info 2>/dev/null | grep -q 'Driver name *: vivid'; then
    if v4l2-ctl -d "$v" --info | grep -q 'Video Capture'; then VID=$v; break; fi
  fi
done
[ -n "$VID" ] && pass "vivid capture node $VID" || fail "no vivid capture node"
if [ -n "$VID" ]; then
  v4l2-ctl -d "$VID" --info
  v4l2-ctl -d "$VID" --list-formats-ext > /tmp/fmts.txt 2>&1
  echo "--- formats (input 0 = webcam):"; grep -E "^\s*\[|Size:" /tmp/fmts.txt | awk '/\[/{f=$0} /Size/{s[f]=s[f]" "$3} END{for(k in s) print k":"s[k]}' | sort
  for f in YUYV NV12 MJPG; do
    grep -q "'$f'" /tmp/fmts.txt && pass "format $f listed" || echo "SMOKE: INFO format $f not offered by vivid"
  done
  for spec in YUYV:640x480 NV12:640x480 YUYV:1280x720 NV12:1280x720; do
    f=${spec%%:*} wh=${spec#*:} w=${wh%x*} h=${wh#*x}
    rm -f /tmp/f.raw
    t0=$(cut -d' ' -f1 /proc/uptime)
    if v4l2-ctl -d "$VID" --set-fmt-video=width=$w,height=$h,pixelformat=$f \
         --stream-mmap=4 --stream-count=10 --stream-to=/tmp/f.raw > /tmp/cap.log 2>&1; then
      t1=$(cut -d' ' -f1 /proc/uptime)
      got=$(v4l2-ctl -d "$VID" --get-fmt-video | awk -F: '/Size Image/{gsub(/ /,"",$2); print $2}')
      size=$(stat -c %s /tmp/f.raw 2>/dev/null || echo 0)
      exp=$((got*10))
      if [ "$size" = "$exp" ] && [ "$size" -gt 0 ]; then
        pass "capture $f ${w}x${h}: 10 frames, $size bytes (sizeimage $got) in $(awk -v a=$t0 -v b=$t1 'BEGIN{print b-a}') s"
        [ -d /mnt/out/. ] && [ "$spec" = "YUYV:640x480" ] && head -c "$got" /tmp/f.raw > /mnt/out/vivid-yuyv-640x480.raw
      else
        fail "capture $f ${w}x${h}: $size bytes, expected $exp"
      fi
    else
      fail "capture $f ${w}x${h}: v4l2-ctl rc=$?: $(tail -3 /tmp/cap.log)"
    fi
  done
fi
echo "--- modetest -M vkms (connectors/crtcs/planes):"
modetest -M vkms -c 2>&1 | head -20
modetest -M vkms -p 2>&1 | grep -E '^[0-9]|formats' | head -12
CONN=$(modetest -M vkms -c 2>/dev/null | awk '$3=="connected" && $4 !~ /Writeback/ {print $1; exit}')
CRTC=$(modetest -M vkms -p 2>/dev/null | awk '/^CRTCs:/{getline; getline; print $1; exit}')
if [ -n "$CONN" ] && [ -n "$CRTC" ]; then
  pass "modetest sees vkms connector $CONN crtc $CRTC"
  # -s: modeset with a dumb-buffer test pattern, waits for stdin (EOF)
  if modetest -M vkms -s "$CONN@$CRTC:1024x768" < /dev/null > /tmp/mt.log 2>&1; then
    pass "modetest -s $CONN@$CRTC:1024x768 (dumb buffer modeset)"; else fail "modetest -s: $(tail -3 /tmp/mt.log)"; fi
  # -v: page flips; runs until stdin becomes readable (so feed it a silent pipe)
  sleep 8 | modetest -M vkms -s "$CONN@$CRTC:1024x768" -v > /tmp/mtv.log 2>&1 &
  mp=$!; sleep 3; kill $mp 2>/dev/null; wait $mp 2>/dev/null
  grep -q 'freq:' /tmp/mtv.log && pass "modetest -v page flips: $(grep 'freq:' /tmp/mtv.log | tail -1)" \
    || fail "modetest -v: $(tail -3 /tmp/mtv.log)"
else
  fail "modetest: no connector/crtc ($CONN/$CRTC)"
fi
echo "--- kmstest (modeset + page flips + writeback readback):"
if [ -d /mnt/out/. ]; then kmstest vkms /mnt/out; else kmstest vkms; fi && pass "kmstest" || fail "kmstest rc=$?"
echo "SMOKE: $fails failures"
exit $fails
EOF
chmod +x "$STAGE/etc/vmtest/smoke.sh"

# the command to run
{
  echo "#!/bin/sh"
  echo "HOSTROOT=$HOSTROOT"
  if [ ${#CMD[@]} -eq 0 ]; then
    echo "set -- /etc/vmtest/smoke.sh"
  else
    printf 'set --'; printf ' %q' "${CMD[@]}"; echo
  fi
} > "$STAGE/etc/vmtest/cmd"

cat > "$STAGE/init" <<'EOF'
#!/bin/sh
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# (no tmpfs on /tmp: the initramfs root is already RAM and files added under /tmp must stay visible)
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs shm /dev/shm
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
up() { cut -d' ' -f1 /proc/uptime; }
echo "VMTEST: init started at uptime $(up) s"
while read -r ko params; do
  [ -n "$ko" ] || continue
  insmod "$ko" $params 2>&1 | sed 's/^/VMTEST: insmod: /'
done < /etc/vmtest/modules
echo "VMTEST: modules loaded at uptime $(up) s"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmout /mnt/out 2>/dev/null \
  && echo "VMTEST: results share mounted at /mnt/out" || echo "VMTEST: no results share"
. /etc/vmtest/cmd
export VMTEST_OUT=/mnt/out
echo "VMTEST: running: $*"
if [ "$HOSTROOT" = 1 ]; then
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro hostroot /mnt/host
  for d in dev proc sys dev/pts dev/shm; do mount --bind /$d /mnt/host/$d; done
  # host / is read-only; /run becomes a scratch tmpfs (host /tmp stays visible)
  mount -t tmpfs run /mnt/host/run
  mkdir -p /mnt/host/run/vmtest-out /mnt/host/run/tmp
  mount --bind /mnt/out /mnt/host/run/vmtest-out && VMTEST_OUT=/run/vmtest-out
  TMPDIR=/run/tmp chroot /mnt/host /bin/sh -c 'cd / && exec "$@"' sh "$@"
else
  (cd /tmp && "$@")
fi
rc=$?
echo "VMTEST: finished at uptime $(up) s"
echo "VMTEST-RESULT: rc=$rc"
sync
umount /mnt/out 2>/dev/null
poweroff -f
EOF
chmod +x "$STAGE/init"

INITRD=$WORK/initrd.$$.cpio
case "$COMPRESS" in
  none) COMP=(cat) ;;
  gzip) COMP=(gzip -1) ;;
  lz4)  COMP=(lz4 -l -1 -q) ;;      # kernel wants the legacy lz4 format (-l)
  zstd) COMP=(zstd -1 -q -T0) ;;
  *) echo "bad --compress $COMPRESS" >&2; exit 2 ;;
esac
(cd "$STAGE" && find . -print0 | cpio --null -o -H newc --owner=0:0 --quiet) | "${COMP[@]}" > "$INITRD"
log "initramfs $(du -h "$INITRD" | cut -f1) ($(du -sh "$STAGE" | cut -f1) unpacked) built at $(elapsed) s"
[ "$KEEP" = 1 ] && log "staging folder kept: $STAGE" || rm -rf "$STAGE"

# ------------------------------------------------------------------ boot ----
QEMU=(qemu-system-x86_64 -nodefaults -no-reboot -display none -vga none
      -m "$MEM" -smp "$SMP"
      -kernel "$KROOT/boot/vmlinuz-$KVER" -initrd "$INITRD"
      -append "console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off $EXTRA_APPEND"
      -serial stdio -monitor none
      -fsdev "local,id=vmout,path=$OUT,security_model=none"
      -device "virtio-9p-pci,fsdev=vmout,mount_tag=vmout")
if [ "$ACCEL" = kvm ]; then QEMU+=(-accel kvm -cpu host); else QEMU+=(-accel tcg -cpu max); fi
# shellcheck disable=SC2206
[ -n "$EXTRA_QEMU" ] && QEMU+=($EXTRA_QEMU)
if [ "$HOSTROOT" = 1 ]; then
  QEMU+=(-fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
         -device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot")
fi
log "booting ($ACCEL, ${MEM} MiB, $SMP cpus, timeout ${TIMEOUT}s); console -> $OUT/console.log"
T_BOOT=$(date +%s.%N)
set +e
# tr line-buffered: console.log follows the guest live (a 4 KB buffer hid its last lines).
timeout -k 5 "$TIMEOUT" "${QEMU[@]}" < /dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$OUT/console.log"
QRC=${PIPESTATUS[0]}
set -e
rm -f "$INITRD"
VM_S=$(awk -v a="$T_BOOT" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
RC=$(sed -n 's/^VMTEST-RESULT: rc=\([0-9]*\).*/\1/p' "$OUT/console.log" | tail -1)
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
  log "VM timed out after ${TIMEOUT}s"; RC=124
elif [ -z "$RC" ]; then
  log "VM ended (qemu rc=$QRC) without a VMTEST-RESULT marker"; RC=125
fi
log "VM ran ${VM_S} s, total $(elapsed) s, guest rc=$RC"
exit "$RC"
