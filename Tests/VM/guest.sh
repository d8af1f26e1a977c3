#!/bin/sh
# Runs inside the VM (busybox sh) with vivid at /dev/video0 and vkms at /dev/dri/card0.
# $1 = the zsm-vmtest binary, $2 = zsm. Prints VMTEST: PASS/FAIL lines; exit status = failing steps.
B=$1
Z=$2
PIPELINE=${3:-strict}   # "report": a pipeline shortfall is reported but does not fail the run
MODEL=$4                # a small checkpoint for zsm live
fails=0
step() {
  echo "VMTEST: RUN $*"
  "$@" || fails=$((fails + 1))
}
waitfor() {  # waitfor FILE TEXT TENTHS
  i=0
  while [ $i -lt "$3" ]; do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}
t0=$(cut -d' ' -f1 /proc/uptime)

echo "VMTEST: RUN $Z devices"
"$Z" devices > /tmp/devices.txt 2>&1
cat /tmp/devices.txt
if grep -q "/dev/video0: vivid" /tmp/devices.txt && grep -q "YUYV" /tmp/devices.txt \
   && grep -q "640x480 @ .*25 fps" /tmp/devices.txt && grep -q "/dev/dri/card0: driver vkms" /tmp/devices.txt \
   && grep -q "Virtual-1 (id [0-9]*): connected" /tmp/devices.txt && grep -q "1024x768@60 (preferred)" /tmp/devices.txt; then
  echo "VMTEST: PASS zsm devices lists vivid (formats, sizes, rates) and vkms (connector, modes)"
else
  echo "VMTEST: FAIL zsm devices output"
  fails=$((fails + 1))
fi

step "$B" capture YUYV 640x480 10
step "$B" capture NV12 640x480 10
step "$B" capture YUYV 1280x720 10
step "$B" capture NV12 1280x720 10

step "$B" display 60
# Reference: the C kmstest from shared/tools/vm in the same VM (how fast can this VM flip?).
echo "VMTEST: INFO reference $(KMSTEST_FLIPS=60 kmstest vkms 2>&1 | grep 'page flips')"

echo "VMTEST: RUN DRM master conflict"
"$B" hold 8 > /tmp/hold.log 2>&1 &
hp=$!
waitfor /tmp/hold.log "VMTEST-STATE: holding" 100 || echo "VMTEST: INFO holder did not start: $(cat /tmp/hold.log)"
step "$B" conflict
wait $hp || fails=$((fails + 1))

if [ "$PIPELINE" = report ]; then
  echo "VMTEST: RUN $B pipeline 150 (report only)"
  "$B" pipeline 150 | sed 's/^VMTEST: FAIL/VMTEST: INFO (report-only) FAIL/'
else
  step "$B" pipeline 150
fi

if [ -n "$MODEL" ]; then
  # zsm live end to end: vivid -> windows -> network -> vkms. Emulated, the network is slow, so the
  # camera frames are averaged 10x10 into a 32x18 network input (128x72 out) and 6 frames are shown.
  echo "VMTEST: RUN $Z live (vivid 320x180 -> network 32x18 -> vkms)"
  "$Z" live --model "$MODEL" --camera /dev/video0 --size 320x180 --downscale 10 --window 2 --frames 6 \
    --display /dev/dri/card0 > /tmp/live.log 2>&1
  rc=$?
  cat /tmp/live.log
  presented=$(sed -n 's/.*live: done: .* \([0-9][0-9]*\) presented.*/\1/p' /tmp/live.log)
  if [ $rc = 0 ] && [ "${presented:-0}" -ge 6 ]; then
    echo "VMTEST: PASS zsm live: camera -> network -> display, $presented frames presented, exit 0"
  else
    echo "VMTEST: FAIL zsm live: rc=$rc, presented '${presented}'"
    fails=$((fails + 1))
  fi
  if grep -q "live: capture" /tmp/live.log; then
    echo "VMTEST: PASS zsm live reports statistics every second"
  else
    echo "VMTEST: FAIL zsm live printed no statistics"
    fails=$((fails + 1))
  fi
fi

echo "VMTEST: RUN reconnect (vivid's disconnect control mid-stream)"
# vivid's "disconnect" control makes the node fail with ENODEV (and POLLERR) like an unplugged
# USB camera; it registers again once the last open handle is closed (vivid's replug). So the
# camera code must notice, close everything, report no-signal and reopen on its own.
"$B" reconnect > /tmp/rc.log 2>&1 &
rp=$!
if waitfor /tmp/rc.log "VMTEST-STATE: streaming" 300; then
  v4l2-ctl -d /dev/video0 -c disconnect=1 || echo "VMTEST: INFO v4l2-ctl disconnect failed"
fi
wait $rp || fails=$((fails + 1))
cat /tmp/rc.log
# Nothing may stay open: the module unloads (and comes back for later runs).
if rmmod vivid; then
  echo "VMTEST: PASS vivid unloads after the tests (no handle left open)"
  set -- $(grep '/vivid.ko' /etc/vmtest/modules)
  insmod "$@"
else
  echo "VMTEST: FAIL vivid cannot be unloaded (a handle is still open)"
  fails=$((fails + 1))
fi

t1=$(cut -d' ' -f1 /proc/uptime)
echo "VMTEST-SUMMARY: $fails failing steps, guest tests took $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') s"
exit $fails
