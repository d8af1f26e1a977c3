"""Fast end-to-end check of the training pipeline (CI runs it; about a minute on 2 cores).

    python smoke_test.py --zsm ../../.build/release/zsm

1. a tiny ZSM-Lite (nf 4, 1 group, 1 + 1 blocks, tail 4) trained for 20 iterations on one fixed
   batch of real training crops: the loss must fall (deterministic: fixed seed, one thread);
2. train.py for 4 iterations, then resumed with a new 3-iteration cycle: the state must carry
   the iteration count, the optimiser and the log across the restart;
3. export.py of that run, loaded by `zsm infer` on a 3-frame clip: zsm's output must equal
   PyTorch's forward (torchvision's deform_conv2d, not the training gather) within 1e-4.
Exit status 0 when all hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "reference"))

import zsm_reference as R  # noqa: E402
from zsm_bin import read_bin, write_bin  # noqa: E402

import data  # noqa: E402
from train import build_model, charbonnier  # noqa: E402

CONFIG = (4, 1, 1, 1)
TAIL = 4


def check(ok: bool, what: str) -> bool:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    return ok


def overfit_one_batch() -> bool:
    torch.manual_seed(1)
    R.DEFORM_BACKEND = "gather"
    model = build_model(CONFIG, TAIL)
    gen = torch.Generator().manual_seed(2)
    lr, hr = data.SeptupletSampler([data.decode(n) for n in data.TRAIN_CLIPS], 32, gen).sample(2)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(20):
        loss = charbonnier(model(lr), hr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return check(losses[-1] < 0.97 * losses[0], f"loss on one batch falls: {losses[0]:.5f} -> {losses[-1]:.5f}")


def train_resume_export(tmp: Path, zsm: str) -> bool:
    common = [sys.executable, str(HERE / "train.py"), "--runs-dir", str(tmp), "--name", "smoke", "--config",
              ",".join(map(str, CONFIG)), "--tail-width", str(TAIL), "--crop", "32", "--batch", "2",
              "--val-every", "2", "--threads", "1"]
    subprocess.run(common + ["--iters", "4"], check=True)
    subprocess.run(common + ["--extend", "3"], check=True)
    state = torch.load(tmp / "smoke" / "state.pt", weights_only=False)
    with open(tmp / "smoke" / "log.csv") as f:
        iterations = [int(row["iteration"]) for row in csv.DictReader(f)]
    ok = check(state["iteration"] == 7 and state["cycle"] == {"start": 4, "length": 3, "peak": 4e-4},
               f"resumed run ends at iteration {state['iteration']} with cycle {state['cycle']}")
    ok &= check(iterations == [2, 4, 6, 7], f"log rows across the restart: {iterations}")
    ok &= check(len(state["optimizer"]["state"]) > 0, "optimiser state saved")

    ckpt = tmp / "smoke.pth"
    subprocess.run([sys.executable, str(HERE / "export.py"), "--runs-dir", str(tmp), "--name", "smoke", "--out",
                    str(ckpt)], check=True)
    R.DEFORM_BACKEND = "torchvision"
    model = build_model(CONFIG, TAIL).eval()
    model.load_state_dict(torch.load(ckpt, weights_only=True), strict=True)
    x = torch.rand(1, 3, 3, 12, 16, generator=torch.Generator().manual_seed(3))
    write_bin(tmp / "in.bin", "input", x.numpy(), "B,N,C=3(RGB),H,W")
    with torch.inference_mode():
        want = model(x).numpy()
    subprocess.run([zsm, "infer", "--model", str(ckpt), "--input", str(tmp / "in.bin"), "--output",
                    str(tmp / "out.bin"), "--threads", "1"], check=True)
    _, got = read_bin(tmp / "out.bin")
    err = float(abs(got.reshape(want.shape) - want).max())
    return ok & check(err <= 1e-4, f"zsm infer on the export equals PyTorch's forward: max abs error {err:.2e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zsm", required=True, help="the zsm binary to check the export with")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        ok = overfit_one_batch()
        ok &= train_resume_export(Path(tmp), args.zsm)
    print("training smoke test: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
