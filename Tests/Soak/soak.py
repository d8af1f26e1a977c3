#!/usr/bin/env python3
"""Daemon soak test: `zsm daemon` over --warmup-windows + at least --windows network windows.

The source is a FIFO with "reopen": true; a writer sends a clip and goes away, the daemon waits
for the next one, again and again (the source goes away and comes back). Every few clips the
configuration is rewritten and SIGHUP sent (threads 1 <-> 2, which reloads the network, and
window 2 <-> 3), once while frames are flowing and once while the source is away. The sink is
one Y4M file, the metrics file is read after every clip.

Checks (exit 1 naming what failed):
  - zsm_frames_in_total equals the frames written, and the sink holds zsm_frames_out_total
    whole frames (every frame accounted for); each clip segment of n >= 2 frames gives 2n - 1
    outputs and a segment of one frame is counted in zsm_frames_dropped_total, so
    2 * (in - dropped) - out is the number of segments: at least the clips, at most the clips
    plus the reloads;
  - over at least --windows windows after --warmup-windows (the run goes on until two samples
    taken at the same configuration are that far apart), resident memory (VmRSS) grows by less
    than --max-rss-growth-kib and the open descriptors do not grow (sampled after each clip,
    compared at the same configuration), and the threads never exceed main + signal watcher +
    the largest pool's workers (a pool that outlives its network adds one per reload);
  - the daemon exits 0 on SIGTERM while it waits for a writer, within --stop-timeout seconds.
Prints what it measured.

  Tests/Soak/soak.py --zsm .build/release/zsm [--windows 1000]
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zsm", required=True, help="the zsm binary")
    p.add_argument("--model", default=os.path.join(ROOT, "Tests/Fixtures/tiny_16x12_n2/model.pth"))
    p.add_argument("--windows", type=int, default=1000, help="network windows to measure, after the warm-up")
    p.add_argument("--frames-per-clip", type=int, default=40)
    p.add_argument("--size", default="16x12", help="input frame size WxH")
    p.add_argument(
        "--warmup-windows", type=int, default=1000,
        help="windows before the first RSS/fd sample (the allocator's pools fill over the first ~800)")
    p.add_argument("--reload-every", type=int, default=4, help="SIGHUP every N clips")
    p.add_argument("--max-rss-growth-kib", type=int, default=1024)
    p.add_argument("--timeout", type=float, default=900, help="seconds for the whole soak")
    p.add_argument("--stop-timeout", type=float, default=10)
    p.add_argument("--workdir", help="keep files here (default: a temporary directory)")
    p.add_argument("--samples", action="store_true", help="print every RSS/fd sample")
    return p.parse_args()


def comparable_ends(samples):
    """The last sample and the first one taken at the same configuration (window 2 and 3 plan
    different arenas; a reload takes effect when the daemon next reads, so the active one is told
    by the threads, main + signal watcher + workers, which change with it)."""
    last = samples[-1]
    return last, next(sample for sample in samples if sample[5] == last[5])


def measured_span(samples):
    """Windows between the two samples whose RSS and descriptors are compared (0: none yet)."""
    if not samples:
        return 0
    last, first = comparable_ends(samples)
    return int(last[1] - first[1])


def y4m_clip(width, height, frames, seed):
    header = b"YUV4MPEG2 W%d H%d F25:1 Ip A1:1 C420jpeg\n" % (width, height)
    size = width * height * 3 // 2
    body = bytearray()
    for i in range(frames):
        body += b"FRAME\n"
        body += bytes(((seed * 31 + i * 7 + j * 13) & 0xFF) for j in range(size))
    return header + bytes(body)


def read_metrics(path):
    values = {}
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("#") or " " not in line:
                    continue
                name, value = line.rsplit(" ", 1)
                try:
                    values[name] = float(value)
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return values


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise RuntimeError("no Threads")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def main():
    args = parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    work = args.workdir or tempfile.mkdtemp(prefix="zsm-soak-")
    os.makedirs(work, exist_ok=True)
    fifo = os.path.join(work, "in.fifo")
    sink = os.path.join(work, "out.y4m")
    metrics = os.path.join(work, "zsm.prom")
    config = os.path.join(work, "daemon.json")
    log_path = os.path.join(work, "daemon.log")
    for path in (fifo, sink, metrics):
        if os.path.exists(path):
            os.unlink(path)
    os.mkfifo(fifo, 0o600)

    def write_config(threads, window):
        text = (
            '{"model": "%s", "threads": %d, "window": %d, '
            '"source": {"type": "y4m", "path": "%s", "reopen": true}, '
            '"sink": {"type": "y4m", "path": "%s"}, "metrics": "%s"}\n'
            % (args.model, threads, window, fifo, sink, metrics)
        )
        tmp = config + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, config)

    settings = [(1, 2), (2, 3)]
    write_config(*settings[0])
    log = open(log_path, "w")
    daemon = subprocess.Popen([os.path.abspath(args.zsm), "daemon", "--config", config], stdout=log, stderr=subprocess.STDOUT, cwd=work)
    failures = []
    start = time.monotonic()
    deadline = start + args.timeout

    def wait_for(predicate, what):
        while time.monotonic() < deadline:
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited ({daemon.returncode}) while waiting for {what}")
            if predicate():
                return
            time.sleep(0.02)
        raise RuntimeError(f"timed out waiting for {what}")

    def open_writer():
        def try_open():
            try:
                try_open.fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                return True
            except OSError:  # ENXIO: no reader yet
                return False

        wait_for(try_open, "the daemon to open the FIFO")
        os.set_blocking(try_open.fd, True)
        return os.fdopen(try_open.fd, "wb", buffering=0)

    frames_sent = 0
    clips = 0
    reloads = 0
    samples = []
    first_clip = None
    try:
        while True:
            if measured_span(samples) >= args.windows:
                break
            clip = y4m_clip(width, height, args.frames_per_clip, clips)
            half = len(clip) // 2
            reload_now = clips % args.reload_every == args.reload_every - 1
            # Once the daemon has the FIFO open for reading (it waits for a writer).
            with open_writer() as w:
                if reload_now and clips % (2 * args.reload_every) == args.reload_every - 1:
                    # A reload while frames flow: half the clip, SIGHUP, the rest.
                    w.write(clip[:half])
                    reloads += 1
                    write_config(*settings[reloads % 2])
                    daemon.send_signal(signal.SIGHUP)
                    w.write(clip[half:])
                else:
                    w.write(clip)
            frames_sent += args.frames_per_clip
            clips += 1
            # The writer is gone: the daemon reads to the end, writes the last window, closes
            # the FIFO and says the source is down.
            wait_for(
                lambda: (
                    read_metrics(metrics).get("zsm_frames_in_total") == frames_sent
                    and read_metrics(metrics).get("zsm_source_up") == 0
                ),
                f"clip {clips} ({frames_sent} frames in)",
            )
            if reload_now and clips % (2 * args.reload_every) == 0:
                # A reload while the source is away.
                reloads += 1
                write_config(*settings[reloads % 2])
                daemon.send_signal(signal.SIGHUP)
            windows_now = read_metrics(metrics).get("zsm_windows_total", 0)
            sample = (clips, windows_now, rss_kib(daemon.pid), open_fds(daemon.pid), reloads % 2, threads(daemon.pid))
            if clips == 1:
                first_clip = sample
            if windows_now >= args.warmup_windows:
                samples.append(sample)
        # SIGTERM while the daemon waits for the next writer.
        t0 = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        try:
            status = daemon.wait(timeout=args.stop_timeout)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
            failures.append(f"the daemon still ran {args.stop_timeout} s after SIGTERM")
            status = None
        stop_seconds = time.monotonic() - t0
        if status is not None and status != 0:
            failures.append(f"exit status {status} after SIGTERM")
    except Exception as error:  # report what happened, with the daemon's log
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        failures.append(str(error))
        stop_seconds = float("nan")
    log.close()
    elapsed = time.monotonic() - start

    m = read_metrics(metrics)
    frames_in = int(m.get("zsm_frames_in_total", -1))
    frames_out = int(m.get("zsm_frames_out_total", -1))
    windows = int(m.get("zsm_windows_total", -1))
    out_frames = -1
    if os.path.exists(sink):
        data_size = os.path.getsize(sink)
        with open(sink, "rb") as f:
            header_len = len(f.readline())
        frame_bytes = len(b"FRAME\n") + (4 * width) * (4 * height) * 3 // 2
        if (data_size - header_len) % frame_bytes:
            failures.append(f"the sink holds a partial frame ({data_size - header_len} bytes of {frame_bytes}-byte frames)")
        out_frames = (data_size - header_len) // frame_bytes
    dropped = int(m.get("zsm_frames_dropped_total", -1))
    segments = 2 * (frames_in - dropped) - frames_out

    print(f"soak: {elapsed:.1f} s, {clips} clips of {args.frames_per_clip} frames ({args.size}), {reloads} reloads")
    print(f"soak: metrics: {windows} windows, {frames_in} frames in ({frames_sent} written), {frames_out} out; sink holds {out_frames}")
    print(f"soak: {dropped} frames dropped (one-frame clip segments); segments of 2+ frames (2 x (in - dropped) - out): {segments}, expected {clips}...{clips + reloads}")
    if args.samples:
        for clip_number, windows_then, rss, fds, setting, thread_count in samples:
            print(
                f"soak: clip {clip_number} window {int(windows_then)} (threads, window) {settings[setting]}: "
                f"RSS {rss} KiB, {fds} fds, {thread_count} threads")
    if samples:
        # The same configuration at both ends (see comparable_ends).
        last, first = comparable_ends(samples)
        # The FIFO may or may not be open at a sample (the daemon reopens it): compare maxima.
        fds_start = max(sample[3] for sample in samples[:5])
        fds_end = max(sample[3] for sample in samples[-5:])
        print(f"soak: after the first clip (window {int(first_clip[1])}): RSS {first_clip[2]} KiB, {first_clip[3]} fds")
        print(
            f"soak: after clip {first[0]} (window {int(first[1])}): RSS {first[2]} KiB, {fds_start} fds; "
            f"after clip {last[0]} (window {int(last[1])}): RSS {last[2]} KiB, {fds_end} fds; "
            f"growth {last[2] - first[2]} KiB, {fds_end - fds_start} fds; peak RSS {max(s[2] for s in samples)} KiB; "
            f"threads {min(s[5] for s in samples)}...{max(s[5] for s in samples)}"
        )
        if last[2] - first[2] >= args.max_rss_growth_kib:
            failures.append(f"RSS grew by {last[2] - first[2]} KiB (limit {args.max_rss_growth_kib})")
        if fds_end > fds_start:
            failures.append(f"open descriptors grew from {fds_start} to {fds_end}")
        most_threads = max(threads for threads, _ in settings) + 1
        if max(s[5] for s in samples) > most_threads:
            failures.append(f"{max(s[5] for s in samples)} threads, more than the {most_threads} of the largest pool")
    else:
        failures.append("no RSS/fd samples (the run ended before the warm-up did)")
    print(f"soak: SIGTERM while waiting for a writer: stopped in {stop_seconds:.2f} s")
    if measured_span(samples) < args.windows:
        failures.append(f"only {measured_span(samples)} windows between the compared RSS samples, fewer than {args.windows}")
    if frames_in != frames_sent:
        failures.append(f"zsm_frames_in_total {frames_in}, but {frames_sent} frames were written")
    if out_frames != frames_out:
        failures.append(f"zsm_frames_out_total {frames_out}, but the sink holds {out_frames} frames")
    if not clips <= segments <= clips + reloads:
        failures.append(f"2 x (in - dropped) - out = {segments} segments, expected {clips}...{clips + reloads}")
    with open(log_path) as f:
        text = f.read()
    if text.count("configuration reloaded") != reloads:
        failures.append(f"{text.count('configuration reloaded')} reloads logged, {reloads} sent")
    if failures:
        print("soak: FAILED:\n  " + "\n  ".join(failures))
        print("daemon log (last 30 lines):\n" + "\n".join(text.splitlines()[-30:]))
        print(f"files kept in {work}")
        return 1
    print("soak: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
