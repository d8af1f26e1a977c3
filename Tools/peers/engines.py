#!/usr/bin/env python3
"""One engine, in its own process: load the network, warm up, time forward passes.

Called by peers.py (`python engines.py ENGINE WORKDIR --threads T --runs K`). WORKDIR holds
`model.pth` (a state_dict of Tools/reference's ZoomingSlowMo, the one zsm loads), `config.json`
and `input.npy` ([1,N,3,H,W] float32). Prints one JSON line (run times, peak RSS of this
process, load time) and writes the output to WORKDIR/out-ENGINE.npy for the accuracy column.

Engines: pytorch (eager fp32), openvino (fp32 pinned: INFERENCE_PRECISION_HINT f32, so no
bf16 on CPUs that have it), openvino-int8 (NNCF post-training quantisation on the input
window), onnxruntime (ONNX opset 19 DeformConv through a symbolic for
torchvision::deform_conv2d registered here). zsm runs from peers.py as its own binary.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "reference"))

from zsm_reference import ZoomingSlowMo  # noqa: E402


def load_model(workdir: Path) -> ZoomingSlowMo:
    cfg = json.loads((workdir / "config.json").read_text())
    model = ZoomingSlowMo(cfg["nf"], cfg["groups"], cfg["front_RBs"], cfg["back_RBs"],
                          tail_width=cfg["tail_width"], global_skip=cfg["global_skip"]).eval()
    model.load_state_dict(torch.load(workdir / "model.pth", map_location="cpu"))
    return model


def peak_rss_mb() -> float:
    """VmHWM: this process's own peak. (ru_maxrss is carried over fork and exec on Linux, so it
    would include peers.py's own ~800 MB, which imported torch to build the model.)"""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def register_deform_conv_symbolic() -> None:
    """torchvision::deform_conv2d -> ONNX DeformConv (opset 19): same offset and mask layout."""
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "v", "v", "v", "v", "i", "i", "i", "i", "i", "i", "i", "i", "b")
    def deform_conv2d(g, x, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w,
                      dil_h, dil_w, groups, offset_groups, use_mask):
        inputs = [x, weight, offset, bias] + ([mask] if use_mask else [])
        return g.op("DeformConv", *inputs, dilations_i=[dil_h, dil_w], group_i=groups,
                    offset_group_i=offset_groups, pads_i=[pad_h, pad_w, pad_h, pad_w],
                    strides_i=[stride_h, stride_w])

    torch.onnx.register_custom_op_symbolic("torchvision::deform_conv2d", deform_conv2d, 19)


def prepare(engine: str, model: ZoomingSlowMo, x: torch.Tensor, threads: int, workdir: Path):
    """A callable running one forward pass and returning the output as numpy."""
    if engine == "pytorch":
        def run():
            with torch.inference_mode():
                return model(x).numpy()
        return run
    if engine in ("openvino", "openvino-int8"):
        import openvino as ov
        core = ov.Core()
        ov_model = ov.convert_model(model, example_input=x)
        config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        if engine == "openvino":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        else:
            import nncf
            ov_model = nncf.quantize(ov_model, nncf.Dataset([x.numpy()]), subset_size=1)
        compiled = core.compile_model(ov_model, "CPU", config)
        request = compiled.create_infer_request()
        xn = x.numpy()

        def run():
            request.infer([xn])
            return request.get_output_tensor(0).data.copy()
        return run
    if engine == "onnxruntime":
        import onnxruntime as ort
        register_deform_conv_symbolic()
        path = workdir / "model.onnx"
        if not path.exists():
            with torch.inference_mode():
                torch.onnx.export(model, (x,), str(path), opset_version=19, dynamo=False,
                                  input_names=["x"], output_names=["y"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        xn = x.numpy()
        return lambda: session.run(None, {"x": xn})[0]
    raise SystemExit(f"unknown engine {engine}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("engine")
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = load_model(args.workdir)
    x = torch.from_numpy(np.load(args.workdir / "input.npy"))
    run = prepare(args.engine, model, x, args.threads, args.workdir)
    out = run()  # warm-up (first-run allocations, JIT)
    load_s = time.perf_counter() - t0
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    np.save(args.workdir / f"out-{args.engine}.npy", np.asarray(out, dtype=np.float32))
    print(json.dumps({"engine": args.engine, "runs_s": times, "load_s": load_s, "peak_rss_mb": peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
