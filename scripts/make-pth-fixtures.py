#!/usr/bin/python3
"""Write test/fixtures/pth/: small PyTorch checkpoints for src/models/pth.ts, with expected values.

The outside oracle for the .pth reader (src/models/zip.ts, pickle.ts, pth.ts). Valid files are
written by torch.save itself (zip format, `_use_new_zipfile_serialization=True`, the default), so
their zip layout (data descriptors, 64-byte aligned stored entries, zip64 end records) and their
pickles are PyTorch's own. Expected values are the f32 bit patterns PyTorch gets from `.float()`
(f64 rounds, f16 and bf16 widen exactly), so the test compares bits, not decimals.

  tiny-vit.pth           state dict of a 2-block ViT with DINO's key names (SPEC.md section 9),
                         D = 4: a Parameter, a non-contiguous (transposed) tensor, f16, bf16 and
                         f64 tensors, norm.weight / norm.bias viewing one shared storage at two
                         offsets, a 0-d tensor, an int64 tensor; the state dict's `_metadata`.
  tiny-vit-proto4.pth    the same with pickle_protocol=4 (FRAME, MEMOIZE, STACK_GLOBAL, ...).
  tiny-vit-deflate.pth   torch's entries re-zipped with deflate (zipfile.ZIP_DEFLATED).
  tiny-vit-zip64.pth     torch's entries re-zipped by hand with zip64 extra fields everywhere and
                         saturated (0xFFFF / 0xFFFFFFFF) end-of-central-directory fields.
  dino-full.pth          a DINO-full-checkpoint-like dict: student `module.backbone.*` /
                         `module.head.*` (DDP), teacher `backbone.*` / `head.*` with the weight-norm
                         last layer (weight_g, weight_v), AdamW `optimizer` state after one step,
                         `epoch`, `args` (argparse.Namespace), `dino_loss` {'center'}, `fp16_scaler`.
  tiny-vit.expected.json, dino-full.expected.json: names, dtypes, shapes, f32 bits (+ exact ints
                         for int64), extra; the tiny-vit one serves its four encodings.

Hostile files (pickles written byte by byte here and never unpickled; zips by the small writer
below):
  evil-os-system.pth     data.pkl calls os.system('echo pwned') via GLOBAL + REDUCE.
  evil-nested-list.pth   {'x': [[[...]]]}, 100000 lists deep (APPEND style; data.pkl deflated).
  evil-nested-marks.pth  100000 nested MARKs building nested tuples (data.pkl deflated).
  evil-bomb.pth          a storage entry declared as 16 bytes that inflates to 16 MB of zeros.
  bomb-ratio.pth         an honest 16 MB zero storage deflated to ~16 KB (refused under a
                         caller's byte limit, loads without one).
  evil-truncated.pth     the first half of tiny-vit.pth.

Rebuild (Debian's python3-torch; `python3` on PATH may be another interpreter without torch):
    /usr/bin/python3 scripts/make-pth-fixtures.py
"""
import argparse
import collections
import io
import json
import os
import struct
import sys
import zipfile
import zlib

import torch
from torch import nn

FORMAT_VERSION = 1
REBUILD = "/usr/bin/python3 scripts/make-pth-fixtures.py"
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "pth")
DTYPE_NAMES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
}

# ============ tiny models with DINO's key names ============


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.attn = Attention(d)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = Mlp(d, 2 * d)


class PatchEmbed(nn.Module):
    def __init__(self, d, patch):
        super().__init__()
        self.proj = nn.Conv2d(3, d, kernel_size=patch, stride=patch)


class TinyViT(nn.Module):
    """vit_small's structure (SPEC.md section 9) at D = 4, patch 2, 4x4 images: 1 + 4 tokens."""

    def __init__(self, depth, d=4, patch=2, tokens=5):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, d))
        self.patch_embed = PatchEmbed(d, patch)
        self.blocks = nn.ModuleList([Block(d) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)


class DINOHead(nn.Module):
    def __init__(self, d=4, hidden=6, bottleneck=3, out=5):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, bottleneck))
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck, out, bias=False))
        self.last_layer.weight_g.data.fill_(1)


class Wrapper(nn.Module):
    """DINO's MultiCropWrapper: backbone + head."""

    def __init__(self, depth):
        super().__init__()
        self.backbone = TinyViT(depth)
        self.head = DINOHead()


class DDP(nn.Module):
    """Stands in for DistributedDataParallel: only its `module.` key prefix matters here."""

    def __init__(self, module):
        super().__init__()
        self.module = module


def randomize(model, gen):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))


def tiny_vit_state():
    g = torch.Generator().manual_seed(1)
    vit = TinyViT(depth=2)
    randomize(vit, g)
    sd = vit.state_dict()  # OrderedDict with `_metadata` (pickled as BUILD state)
    # A Parameter (as state_dict(keep_vars=True) gives): _rebuild_parameter.
    sd["cls_token"] = nn.Parameter(sd["cls_token"].clone())
    # Non-contiguous: stored as the transpose of a contiguous (4, 12) storage; stride (1, 12).
    w = sd["blocks.0.attn.qkv.weight"]
    sd["blocks.0.attn.qkv.weight"] = w.t().contiguous().t()
    assert not sd["blocks.0.attn.qkv.weight"].is_contiguous()
    # Another dtype per tensor family.
    sd["blocks.0.attn.proj.weight"] = sd["blocks.0.attn.proj.weight"].half()
    sd["blocks.0.attn.proj.bias"] = torch.tensor([0.0, -0.0, 65504.0, 2.0 ** -24], dtype=torch.float16)
    sd["blocks.0.mlp.fc1.weight"] = torch.cat([torch.tensor([1.0 / 3.0, 1.0e-40, 1.0e300, -7.0], dtype=torch.float64),
                                              sd["blocks.0.mlp.fc1.weight"].double().reshape(-1)[4:]]).reshape(8, 4)
    sd["blocks.1.mlp.fc2.weight"] = sd["blocks.1.mlp.fc2.weight"].bfloat16()
    # One storage viewed twice: norm.weight = storage[0:4], norm.bias = storage[4:8].
    shared = torch.randn(8, generator=g)
    sd["norm.weight"] = shared[:4]
    sd["norm.bias"] = shared[4:]
    assert sd["norm.bias"].storage_offset() == 4
    # A column slice: offset 1, stride (3,) over a (4, 3) storage.
    sd["blocks.1.norm1.bias"] = torch.randn(4, 3, generator=g)[:, 1]
    assert sd["blocks.1.norm1.bias"].stride() == (3,)
    # 0-d and int64 tensors (not ViT keys; the test drops them before matching names).
    sd["extra_scalar"] = torch.tensor(-2.5)
    sd["extra_steps"] = torch.tensor([0, -1, 2 ** 40 + 3, 7], dtype=torch.int64)
    return sd


def dino_full_checkpoint():
    g = torch.Generator().manual_seed(2)
    student = DDP(Wrapper(depth=1))
    teacher = Wrapper(depth=1)
    randomize(student, g)
    teacher.load_state_dict(student.module.state_dict())
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-3)
    loss = sum((p * p).sum() for p in student.parameters())
    loss.backward()
    opt.step()
    args = argparse.Namespace(
        arch="vit_small", patch_size=8, out_dim=65536, norm_last_layer=True, momentum_teacher=0.996,
        use_fp16=False, weight_decay=0.04, lr=0.0005, global_crops_scale=(0.4, 1.0), local_crops_number=8,
        data_path="/path/to/imagenet/train", dist_url="env://", seed=0, warmup_teacher_temp=0.04,
        freeze_last_layer=1, saveckp_freq=20, drop_path_rate=0.1, optimizer="adamw", output_dir=".", gpu=None,
    )
    center = torch.randn(1, 5, generator=g)
    return {
        "student": student.state_dict(),
        "teacher": teacher.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 7,
        "args": args,
        "dino_loss": collections.OrderedDict([("center", center)]),
        "fp16_scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000, "_growth_tracker": 3},
    }


# ============ expected values ============


def f32_bits(t):
    return [b & 0xFFFFFFFF for b in t.detach().float().contiguous().reshape(-1).view(torch.int32).tolist()]


def tensor_json(t):
    e = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "f32_bits": f32_bits(t)}
    if not t.dtype.is_floating_point:
        e["ints"] = t.reshape(-1).tolist()
    return e


def plain(v):
    """Non-tensor values as the reader returns them in `extra` (tuples become lists)."""
    if isinstance(v, argparse.Namespace):
        return {k: plain(x) for k, x in vars(v).items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    return v


def flatten(obj, prefix, tensors, extra):
    """The reader's walk (pth.ts): dotted names for tensors, dotted keys for other leaves."""
    for k, v in obj.items():
        name = prefix + str(k)
        if isinstance(v, torch.Tensor):
            tensors[name] = tensor_json(v)
        elif isinstance(v, dict) and set(v.keys()) == {"state", "param_groups"}:
            extra[name] = "skipped"
        elif isinstance(v, dict):
            flatten(v, name + ".", tensors, extra)
        else:
            extra[name] = plain(v)


def expected(obj):
    tensors, extra = {}, {}
    flatten(obj, "", tensors, extra)
    return {
        "version": FORMAT_VERSION,
        "rebuild": REBUILD,
        "torch": torch.__version__,
        "tensors": tensors,
        "extra": extra,
    }


def torch_save(obj, protocol=2):
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol, _use_new_zipfile_serialization=True)
    return buf.getvalue()


# ============ a small zip writer (for re-packed and hostile files) ============


def write_zip(entries, zip64=False):
    """entries: (name, data, method, declared) with method 0 (stored) or 8 (deflated) and
    `declared` the uncompressed size written into the headers (None: the true size)."""
    out = bytearray()
    central = bytearray()
    for name, data, method, declared in entries:
        name_b = name.encode("utf-8")
        payload = data if method == 0 else zlib.compress(data, 9)[2:-4]  # raw deflate
        usize = len(data) if declared is None else declared
        crc = zlib.crc32(data[:usize]) & 0xFFFFFFFF
        offset = len(out)
        if zip64:
            extra = struct.pack("<HHQQ", 1, 16, usize, len(payload))
            out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0x800, method, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name_b), len(extra))
        else:
            extra = b""
            out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x800, method, 0, 0, crc, len(payload), usize, len(name_b), 0)
        out += name_b + extra + payload
        if zip64:
            cextra = struct.pack("<HHQQQ", 1, 24, usize, len(payload), offset)
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0x800, method, 0, 0, crc,
                                   0xFFFFFFFF, 0xFFFFFFFF, len(name_b), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF)
        else:
            cextra = b""
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0x800, method, 0, 0, crc,
                                   len(payload), usize, len(name_b), 0, 0, 0, 0, 0, offset)
        central += name_b + cextra
    cd_offset = len(out)
    out += central
    n = len(entries)
    if zip64:
        eocd64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), cd_offset, 0)
    return bytes(out)


def torch_entries(blob):
    z = zipfile.ZipFile(io.BytesIO(blob))
    return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def repack_deflate(blob):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in torch_entries(blob):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: rebuilds are byte-identical
            z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


# ============ hostile pickles, byte by byte (never unpickled) ============


def binunicode(s):
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def storage_tensor_pickle(numel):
    """{'w': FloatStorage tensor of `numel` elements over storage '0'}, protocol 2, by hand."""
    p = b"\x80\x02}" + binunicode("w")
    p += b"ctorch._utils\n_rebuild_tensor_v2\n("
    p += b"(" + binunicode("storage") + b"ctorch\nFloatStorage\n" + binunicode("0") + binunicode("cpu")
    p += b"J" + struct.pack("<i", numel) + b"tQ"  # persistent id tuple, BINPERSID
    p += b"K\x00" + b"J" + struct.pack("<i", numel) + b"\x85" + b"K\x01\x85" + b"\x89"
    p += b"ccollections\nOrderedDict\n)R" + b"tR" + b"s."
    return p


def hostile_files(tiny_blob):
    files = {}
    version = ("archive/version", b"3\n", 0, None)
    # GLOBAL os.system, then REDUCE with ('echo pwned',): what a malicious .pth does.
    evil = b"\x80\x02cos\nsystem\n" + binunicode("echo pwned") + b"\x85R."
    files["evil-os-system.pth"] = write_zip([("archive/data.pkl", evil, 0, None), version])
    depth = 100_000
    nested = b"\x80\x02}" + binunicode("x") + b"]" * depth + b"a" * (depth - 1) + b"s."
    files["evil-nested-list.pth"] = write_zip([("archive/data.pkl", nested, 8, None), version])
    marks = b"\x80\x02" + b"(" * depth + b"t" * depth + b"."
    files["evil-nested-marks.pth"] = write_zip([("archive/data.pkl", marks, 8, None), version])
    zeros = bytes(16 << 20)
    # Declared 16 bytes (4 floats), inflates to 16 MB: the reader must stop at the declared size.
    files["evil-bomb.pth"] = write_zip([("archive/data.pkl", storage_tensor_pickle(4), 0, None),
                                        ("archive/data/0", zeros, 8, 16), version])
    # Honest: 4M floats of zeros, ~16 KB deflated (ratio ~1000).
    files["bomb-ratio.pth"] = write_zip([("archive/data.pkl", storage_tensor_pickle(len(zeros) // 4), 0, None),
                                         ("archive/data/0", zeros, 8, None), version])
    files["evil-truncated.pth"] = tiny_blob[: len(tiny_blob) // 2]
    return files


# ============ main ============


def write(name, data):
    with open(os.path.join(OUT_DIR, name), "wb") as f:
        f.write(data)


def write_json(name, doc):
    with open(os.path.join(OUT_DIR, name), "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")


def main():
    assert sys.byteorder == "little", "the fixtures copy host storage"
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        os.remove(os.path.join(OUT_DIR, f))

    # One expected-values file for the four encodings of the same state dict.
    tiny = tiny_vit_state()
    blob = torch_save(tiny)
    variants = {
        "tiny-vit.pth": blob,
        "tiny-vit-proto4.pth": torch_save(tiny, protocol=4),
        "tiny-vit-deflate.pth": repack_deflate(blob),
        "tiny-vit-zip64.pth": write_zip([(n, d, 0, None) for n, d in torch_entries(blob)], zip64=True),
    }
    for name, data in variants.items():
        write(name, data)
    doc = expected(tiny)
    doc["files"] = {name: len(data) for name, data in variants.items()}
    write_json("tiny-vit.expected.json", doc)

    full = dino_full_checkpoint()
    fblob = torch_save(full)
    write("dino-full.pth", fblob)
    doc = expected(full)
    doc["files"] = {"dino-full.pth": len(fblob)}
    write_json("dino-full.expected.json", doc)

    for name, data in hostile_files(blob).items():
        write(name, data)

    # Sanity: torch itself reads all four encodings (so the hand-made zip64 writer is right).
    for name in ["tiny-vit.pth", "tiny-vit-proto4.pth", "tiny-vit-deflate.pth", "tiny-vit-zip64.pth"]:
        back = torch.load(os.path.join(OUT_DIR, name))
        assert list(back.keys()) == list(tiny.keys()), name
        for k in tiny:
            assert torch.equal(back[k], tiny[k]), (name, k)
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR))
    print(f"wrote {len(os.listdir(OUT_DIR))} files, {total} bytes, to {os.path.normpath(OUT_DIR)}")
    assert total < 200_000, "keep test/fixtures/pth under 200 KB"


if __name__ == "__main__":
    main()
