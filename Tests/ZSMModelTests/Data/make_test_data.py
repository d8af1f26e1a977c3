"""Regenerates the small checkpoint test files in this folder (run once; not used by tests).

Run with a Python that has torch: /work/torchenv/bin/python make_test_data.py
"""
import io
import pickle
import pickletools
import zipfile

import torch

torch.manual_seed(7)


def save(obj, name, legacy=False):
    torch.save(obj, name, _use_new_zipfile_serialization=not legacy)


def rewrite_zip(source, target, drop=(), replace=None, compression=zipfile.ZIP_STORED):
    """Copies a zip checkpoint, dropping or replacing records."""
    replace = replace or {}
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", compression) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = replace.get(info.filename, zin.read(info.filename))
            zout.writestr(info.filename, data)


# Non-float32 tensors, in both containers.
half = {"conv_first.weight": torch.randn(2, 3, 3, 3).half(), "conv_first.bias": torch.zeros(2).half()}
save(half, "fp16.pth")
save(half, "fp16_legacy.pth", legacy=True)

# A tensor saved with transposed strides.
save({"w": torch.arange(12.0).reshape(3, 4).t()}, "noncontiguous.pth")

# A small plain state_dict to derive broken zips from.
small = {"a.weight": torch.arange(6.0).reshape(2, 3), "a.bias": torch.tensor([0.5, -0.5]), "b.weight": torch.ones(4)}
save(small, "small.pth")
save(small, "small_legacy.pth", legacy=True)
rewrite_zip("small.pth", "missing_record.pth", drop=("small/data/1",))
rewrite_zip("small.pth", "compressed.pth", compression=zipfile.ZIP_DEFLATED)
# The record of storage 0 (a.weight, 6 floats) cut to 4 floats.
with zipfile.ZipFile("small.pth") as z:
    rewrite_zip("small.pth", "short_record.pth", replace={"small/data/0": z.read("small/data/0")[:16]})
    # The pickle declares storage 0 to hold 4 elements (BININT1 6 -> 4): a.weight needs 6.
    pkl = bytearray(z.read("small/data.pkl"))
for opcode, arg, pos in pickletools.genops(bytes(pkl)):
    if opcode.name == "BININT1" and arg == 6:
        pkl[pos + 1] = 4
        break
rewrite_zip("small.pth", "storage_too_small.pth", replace={"small/data.pkl": bytes(pkl)})

# Unrelated pickles.
with open("int_list.pkl", "wb") as f:
    pickle.dump([1, 2, 3, 1000, 70000], f, protocol=2)
# GLOBAL os.system, written by hand (pickle itself would name posix.system on Linux).
with open("os_system.pkl", "wb") as f:
    f.write(b"\x80\x02cos\nsystem\nq\x00X\x07\x00\x00\x00echo hiq\x01\x85q\x02Rq\x03.")
with open("os_system_protocol4.pkl", "wb") as f:
    f.write(b"\x80\x04\x95\x19\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93\x8c\x07echo hi\x85R.")

# A zip archive that is not a PyTorch checkpoint.
with zipfile.ZipFile("not_torch.zip", "w") as z:
    z.writestr("notes/readme.txt", "hello")

# Tensors sharing one storage at different offsets, in both containers.
base = torch.arange(6.0)
shared = {"a": base[:3], "b": base[3:], "c": base.view(2, 3)}
save(shared, "shared.pth")
save(shared, "shared_legacy.pth", legacy=True)
