"""Writing the PyTorch oracle fixtures (shared by scripts/make-fixtures*.py).

JSON fixtures: {"format": "medivlad-fixture", "version": 1, "torch", "rebuild", "meta",
"tensors": {name: {"shape", "data"}}}, float64 values, row-major. Large ones are safetensors
(float32) with the same fields in __metadata__ (meta as a JSON string). Writes are atomic.
"""
import json
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')
VERSION = 1


def tensors_json(named):
    out = {}
    for name, t in named.items():
        t = t.detach().to(torch.float64).contiguous()
        out[name] = {'shape': list(t.shape), 'data': [float(v) for v in t.reshape(-1).tolist()]}
    return out


def _replace(path, write_tmp):
    tmp = path + '.tmp'
    write_tmp(tmp)
    os.replace(tmp, path)
    print(f'wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)')


def write(name, meta, named, rebuild):
    os.makedirs(OUT, exist_ok=True)
    doc = {'format': 'medivlad-fixture', 'version': VERSION, 'torch': torch.__version__, 'rebuild': rebuild,
           'meta': meta, 'tensors': tensors_json(named)}

    def dump(tmp):
        with open(tmp, 'w') as f:
            json.dump(doc, f, separators=(',', ':'))
    _replace(os.path.join(OUT, name + '.json'), dump)


def write_safetensors(name, meta, named, rebuild):
    header = {'__metadata__': {'format': 'medivlad-fixture', 'version': str(VERSION), 'torch': torch.__version__,
                               'rebuild': rebuild, 'meta': json.dumps(meta)}}
    blobs, off = [], 0
    for n in sorted(named):
        t = named[n].detach().to(torch.float32).contiguous()
        b = t.numpy().astype('<f4').tobytes()
        header[n] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)

    def dump(tmp):
        with open(tmp, 'wb') as f:
            f.write(struct.pack('<Q', len(h)))
            f.write(h)
            for b in blobs:
                f.write(b)
    os.makedirs(OUT, exist_ok=True)
    _replace(os.path.join(OUT, name + '.safetensors'), dump)
