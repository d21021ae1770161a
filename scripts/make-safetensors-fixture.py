#!/usr/bin/python3
"""Write test/fixtures/tiny.safetensors and its expected values (tiny.expected.json).

The outside oracle for src/models/safetensors.ts: tensors come from PyTorch (their bytes are
PyTorch's own little-endian storage, incl. its f16/bf16 encodings), and the file is laid out
by hand with struct + json following the format's conventions as the official `safetensors`
package writes them (not installed here):
  - u64 little-endian header length N, then N bytes of JSON, then the data section;
  - tensors ordered by dtype size (largest first), then by name; data_offsets contiguous;
  - "__metadata__" first; header padded with spaces so the data starts at a multiple of 8.
Expected values are the f32 bit patterns PyTorch gets from `.float()` (F64 rounds, F16 and
BF16 widen exactly), so the test compares bits, not decimals.

Rebuild (Debian's python3-torch; `python3` may be another interpreter without torch):
    /usr/bin/python3 scripts/make-safetensors-fixture.py
"""
import json
import os
import struct
import sys

import torch

FORMAT_VERSION = 1
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")
DTYPE_NAMES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
}


def tensors():
    g = torch.Generator().manual_seed(0)
    inf, nan = float("inf"), float("nan")
    return {
        # Names with dots, as a ViT state dict (SPEC.md section 9).
        "blocks.0.attn.qkv.weight": torch.randn(3, 5, generator=g),
        "blocks.0.attn.qkv.bias": torch.randn(7, generator=g),
        "cls_token": torch.randn(1, 1, 3, generator=g),
        "scalar": torch.tensor(-2.5),
        "empty": torch.zeros(0),
        "empty_2d": torch.zeros(2, 0, 3),
        # f16: zero, -0, max, smallest subnormal, a normal, +-inf, nan, random.
        "half": torch.cat([
            torch.tensor([0.0, -0.0, 65504.0, 2.0 ** -24, 0.333, inf, -inf, nan], dtype=torch.float16),
            torch.randn(5, generator=g).half(),
        ]).reshape(13),
        # bf16: big, negative, subnormal, inf, random.
        "bf16": torch.cat([
            torch.tensor([3.0e38, -3.14159, 1.0e-39, inf], dtype=torch.bfloat16),
            torch.randn(2, 3, generator=g).bfloat16().reshape(-1),
        ]).reshape(2, 5),
        # f64 rounds to f32: 1/3, an f32 subnormal, and overflow to inf.
        "double": torch.tensor([1.0 / 3.0, 1.0e-40, 1.0e300, -7.0], dtype=torch.float64),
        "index": torch.tensor([0, -1, 2 ** 40 + 3, 7], dtype=torch.int64),
        "index32": torch.tensor([[1, -2], [2 ** 31 - 1, -(2 ** 31)]], dtype=torch.int32),
    }


def raw_bytes(t):
    """PyTorch's storage bytes of a contiguous tensor (little-endian on this host)."""
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def f32_bits(t):
    return [b & 0xFFFFFFFF for b in t.float().contiguous().reshape(-1).view(torch.int32).tolist()]


def main():
    assert sys.byteorder == "little", "the format is little-endian; this script copies host storage"
    ts = tensors()
    metadata = {"format": "pt", "source": "scripts/make-safetensors-fixture.py"}
    order = sorted(ts, key=lambda k: (-ts[k].element_size(), k))

    header = {"__metadata__": metadata}
    data = b""
    for name in order:
        t = ts[name]
        b = raw_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    blob = struct.pack("<Q", len(text)) + text + data

    expected = {
        "version": FORMAT_VERSION,
        "rebuild": "/usr/bin/python3 scripts/make-safetensors-fixture.py",
        "torch": torch.__version__,
        "header_bytes": len(text),
        "file_bytes": len(blob),
        "metadata": metadata,
        "order": order,
        "tensors": {},
    }
    for name in order:
        t = ts[name]
        e = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "f32_bits": f32_bits(t)}
        if not t.dtype.is_floating_point:
            e["ints"] = t.reshape(-1).tolist()
        expected["tensors"][name] = e

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "tiny.safetensors"), "wb") as f:
        f.write(blob)
    with open(os.path.join(OUT_DIR, "tiny.expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"wrote {len(blob)} bytes ({len(order)} tensors) to {os.path.normpath(OUT_DIR)}")


if __name__ == "__main__":
    main()
