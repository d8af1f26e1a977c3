#!/bin/bash
# Runs inside the systemd VM (Debian 12 root, booted by Tests/VM/systemd/run.sh) as the unit
# zsm-vmtest.service, with the files of the host in /payload. Installs zsm the quick start's
# way (prefix /usr/local, data in /usr/local/share/zsm), the unit Deploy/zsm.service unmodified,
# and checks the daemon as a service: READY=1, frames and metrics in the state directory as the
# dynamic user, systemctl reload, a killed source restarts it (Restart=on-failure), a clean stop.
# Prints VMTEST: PASS/FAIL/INFO lines on the console; exit status = failing checks.
P=/payload
SCALE=$(cat $P/scale)   # percent: how much slower than the development host run.sh measured
fails=0
pass() { echo "VMTEST: PASS $*"; }
fail() { echo "VMTEST: FAIL $*"; fails=$((fails + 1)); }
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# waitfor SECONDS COMMAND...: polls COMMAND every 0.5 s for SECONDS (stretched by SCALE).
waitfor() {
  local n=$(($1 * SCALE * 2 / 100)) i=0
  shift
  while [ $i -lt $n ]; do
    "$@" && return 0
    sleep 0.5
    i=$((i + 1))
  done
  return 1
}
up() { cut -d' ' -f1 /proc/uptime; }
prop() { systemctl show -p "$1" --value zsm; }
metric() { sed -n "s/^$1 //p" /var/lib/zsm/zsm.prom 2> /dev/null; }
windows_above() {  # windows_above N: the metrics file counts more than N windows
  local n
  n=$(metric zsm_windows_total)
  [ "${n:-0}" -gt "$1" ]
}
# finish: the journal when something failed, the result marker, power off.
finish() {
  if [ $fails -gt 0 ]; then
    echo "VMTEST: INFO journal of zsm.service:"
    journalctl -u zsm --no-pager | tail -40 | sed 's/^/VMTEST: INFO journal: /'
  fi
  echo "VMTEST-SUMMARY: $fails failing checks, guest tests took $(awk -v a="$t0" -v b="$(up)" 'BEGIN{print b-a}') s"
  echo "VMTEST-RESULT: rc=$fails"
  systemctl poweroff --force --force
  exit $fails
}
t0=$(up)
echo "VMTEST: INFO booted to zsm-vmtest.service at uptime $(up) s; waits x$(awk -v s="$SCALE" 'BEGIN{print s/100}')"

# The quick start's install (quickstart.sh with PREFIX=/usr/local): zsm and its data.
install -D -m 755 $P/zsm /usr/local/bin/zsm
mkdir -p /usr/local/share/zsm && cp -r $P/share/Models $P/share/Boards $P/share/Calibration /usr/local/share/zsm/
cp -rn $P/lib/. /   # the Swift runtime and libv4l2/libdrm, at the paths the binary was linked with
ldconfig
install -D -m 644 $P/zsm.service /etc/systemd/system/zsm.service   # Deploy/zsm.service as shipped
install -D -m 644 $P/daemon.json /etc/zsm/daemon.json
echo "VMTEST: INFO $(/usr/local/bin/zsm --version 2>&1 | head -1); unit sha256 $(sha256sum < /etc/systemd/system/zsm.service | cut -c1-16)"
echo "VMTEST: INFO /etc/zsm/daemon.json: $(tr -s ' \n' ' ' < /etc/zsm/daemon.json)"
check "systemd-analyze verify Deploy/zsm.service (as installed)" \
  sh -c 'systemd-analyze verify /etc/systemd/system/zsm.service > /tmp/verify.log 2>&1 || { cat /tmp/verify.log; false; }'
systemctl daemon-reload

# Start: blocks until READY=1, which comes once the model is loaded and the source FIFO, made by
# the daemon in its runtime directory, is open: before any producer writes to it.
t_start=$(up)
if timeout $((120 * SCALE / 100)) systemctl start zsm; then
  pass "systemctl start: active (READY=1) with no producer yet, $(awk -v a="$t_start" -v b="$(up)" 'BEGIN{print b-a}') s"
else
  fail "systemctl start zsm: $(prop ActiveState)/$(prop SubState); the rest is skipped"
  finish
fi
check "the daemon made its source FIFO /run/zsm/input.fifo" test -p /run/zsm/input.fifo
# The producer: a process that copies what this script sends into the daemon's FIFO.
mkfifo /tmp/feed
cat /tmp/feed > /run/zsm/input.fifo &
producer=$!
exec 3> /tmp/feed
cat $P/clip.y4m >&3   # stream header + 3 frames (8x8)
if waitfor 600 windows_above 1; then
  pass "two windows done: $(metric zsm_frames_in_total) frames in, $(metric zsm_frames_out_total) out"
else
  fail "windows: '$(metric zsm_windows_total)' after the wait"
fi
pid=$(prop MainPID)
uid=$(stat -c %u /proc/"$pid" 2> /dev/null)
echo "VMTEST: INFO main process $pid runs as uid $uid ($(id -nu "$uid" 2> /dev/null)), groups$(sed -n 's/^Groups://p' /proc/"$pid"/status)"
check "runs as a dynamic user (uid $uid in 61184...65519)" test "${uid:-0}" -ge 61184 -a "${uid:-0}" -le 65519
check "SupplementaryGroups=video: the process has the video group" \
  sh -c "grep -q '^Groups:.*\b$(getent group video | cut -d: -f3)\b' /proc/$pid/status"
check "the shipped model from /usr/local/share/zsm" \
  sh -c 'journalctl -u zsm --no-pager -o cat | grep -q "the shipped ZSM-Lite, /usr/local/share/zsm/Models/zsm-lite.pth"'
ls -ln /var/lib/zsm/ /var/lib/zsm/out/ | sed 's/^/VMTEST: INFO ls: /'
check "metrics file in the state directory, owned by the dynamic user" \
  sh -c "[ \"\$(stat -c %u /var/lib/zsm/zsm.prom)\" = '$uid' ] && grep -q '^zsm_source_up 1' /var/lib/zsm/zsm.prom"
# Output frames from the files' sizes (32x32 4:2:0 frames of 1536 bytes after a 6-byte FRAME line).
frames=0
for f in /var/lib/zsm/out/*.y4m; do
  [ -f "$f" ] && frames=$((frames + ($(stat -c %s "$f") - $(head -1 "$f" | wc -c)) / 1542))
done
check "frames written into /var/lib/zsm/out by the dynamic user ($frames frames)" \
  sh -c "[ $frames -ge 3 ] && [ \"\$(stat -c %u /var/lib/zsm/out/*.y4m | sort -u)\" = '$uid' ]"

# systemctl reload: SIGHUP, the configuration read again, windows go on.
sed -i 's/"framesPerFile": 100/"framesPerFile": 50/' /etc/zsm/daemon.json
before=$(metric zsm_windows_total)
systemctl reload zsm
check "systemctl reload: the daemon read its configuration again" \
  waitfor 120 sh -c 'journalctl -u zsm --no-pager -o cat | grep -q "configuration reloaded from /etc/zsm/daemon.json"'
cat $P/more.bin >&3   # 2 more frames: a new clip after the reload
if waitfor 600 windows_above "${before:-0}"; then
  pass "windows go on after the reload ($before -> $(metric zsm_windows_total))"
else
  fail "no window after the reload ($before -> $(metric zsm_windows_total))"
fi
check "still the same process after the reload" test "$(prop MainPID)" = "$pid"

# Kill the source: the FIFO's end is a failure exit, and systemd restarts the daemon.
kill -KILL $producer
wait $producer 2> /dev/null
exec 3>&-
if waitfor 300 sh -c '[ "$(systemctl show -p NRestarts --value zsm)" -ge 1 ]'; then
  pass "killed source: exit status 1, restarted by systemd (NRestarts=$(prop NRestarts))"
else
  fail "killed source: NRestarts=$(prop NRestarts), $(prop ActiveState)/$(prop SubState)"
fi
check "the journal says why it exited (not a finite source) and the status" \
  sh -c 'journalctl -u zsm --no-pager | grep -q "is not a finite source" && journalctl -u zsm --no-pager | grep -q "status=1/FAILURE"'
# The restarted daemon makes its FIFO again, is ready without a producer, and runs with a new one.
if waitfor 300 sh -c '[ "$(systemctl is-active zsm)" = active ]' && test -p /run/zsm/input.fifo; then
  pass "the restarted daemon is active again (READY=1, a new FIFO, no producer yet)"
  mkfifo /tmp/feed2
  cat /tmp/feed2 > /run/zsm/input.fifo &
  producer=$!
  exec 3> /tmp/feed2
  cat $P/clip.y4m >&3
else
  fail "the restarted daemon: $(prop ActiveState)/$(prop SubState), FIFO $(ls -l /run/zsm/input.fifo 2>&1)"
fi

# systemctl stop: SIGTERM while the producer is still there (the source has not ended), the
# window of its clip under way: exit 0.
systemctl stop zsm
check "systemctl stop: clean exit (Result=$(prop Result), status $(prop ExecMainStatus))" \
  test "$(prop Result)" = success -a "$(prop ExecMainStatus)" = 0
check "stopped on the signal" sh -c 'journalctl -u zsm --no-pager -o cat | grep -q "stopping on signal"'
exec 3>&-
kill $producer 2> /dev/null
finish
