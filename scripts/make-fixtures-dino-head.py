#!/usr/bin/python3
"""PyTorch oracle fixture for the DINO projection head (SPEC §9): a small DINOHead (in 32,
hidden 48, bottleneck 16, out 37, 3 layers) with norm_last_layer True and False; forward
output and every gradient (input included) of loss = sum(w * out).

    /usr/bin/python3 scripts/make-fixtures-dino-head.py   # Debian's python3 (python3-torch)

Writes test/fixtures/dino-head.safetensors in scripts/make-fixtures.py's safetensors format
(medivlad-fixture v1, meta as JSON in __metadata__). Weights are make-fixtures.py's
formula_fill (mirrored by test/helpers/formula-init.ts), inputs seeded uniform [-1, 1).
The head restates DINO's vision_transformer.DINOHead and runs in float64 on float32 values.
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')
VERSION = 1
REBUILD = '/usr/bin/python3 scripts/make-fixtures-dino-head.py'


class DINOHead(nn.Module):
    """DINO's head without BN: MLP -> L2 normalise -> weight-normalised Linear (no bias)."""

    def __init__(self, in_dim, out_dim, norm_last_layer=True, nlayers=3, hidden_dim=2048, bottleneck_dim=256):
        super().__init__()
        nlayers = max(nlayers, 1)
        if nlayers == 1:
            self.mlp = nn.Linear(in_dim, bottleneck_dim)
        else:
            layers = [nn.Linear(in_dim, hidden_dim), nn.GELU()]
            for _ in range(nlayers - 2):
                layers += [nn.Linear(hidden_dim, hidden_dim), nn.GELU()]
            layers.append(nn.Linear(hidden_dim, bottleneck_dim))
            self.mlp = nn.Sequential(*layers)
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        self.last_layer.weight_g.data.fill_(1)
        if norm_last_layer:
            self.last_layer.weight_g.requires_grad = False

    def forward(self, x):
        x = self.mlp(x)
        x = F.normalize(x, dim=-1, p=2)
        return self.last_layer(x)


def uniform(gen, *shape):
    return torch.rand(*shape, generator=gen, dtype=torch.float64).mul(2).sub(1).float()


def formula_fill(module, scale):
    """make-fixtures.py's formula_fill: parameter k, element i: scale * sin(0.37 i + 1.3 k + 0.5)."""
    with torch.no_grad():
        for k, (n, p) in enumerate(module.named_parameters()):
            i = torch.arange(p.numel(), dtype=torch.float64)
            p.copy_((scale * torch.sin(0.37 * i + 1.3 * k + 0.5)).reshape(p.shape).float().to(p.dtype))


def write_safetensors(name, meta, named):
    header = {'__metadata__': {'format': 'medivlad-fixture', 'version': str(VERSION), 'torch': torch.__version__,
                               'rebuild': REBUILD, 'meta': json.dumps(meta)}}
    blobs = []
    off = 0
    for n in sorted(named):
        b = named[n].detach().to(torch.float32).contiguous().numpy().astype('<f4').tobytes()
        header[n] = {'dtype': 'F32', 'shape': list(named[n].shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + '.safetensors')
    with open(path + '.tmp', 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(path + '.tmp', path)
    print(f'wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)')


def dino_head_fixture():
    B, IN, HID, BOT, OUT_DIM, NL, SCALE = 5, 32, 48, 16, 37, 3, 0.2
    gen = torch.Generator().manual_seed(4321)
    x0 = uniform(gen, B, IN)
    w = uniform(gen, B, OUT_DIM)
    named = {'x': x0, 'w': w}
    for norm_last in (True, False):
        tag = 'norm' if norm_last else 'free'
        head = DINOHead(IN, OUT_DIM, norm_last_layer=norm_last, nlayers=NL, hidden_dim=HID, bottleneck_dim=BOT).double()
        formula_fill(head, SCALE)
        x = x0.double().clone().requires_grad_(True)
        out = head(x)
        (out * w.double()).sum().backward()
        named[f'{tag}.out'] = out
        named[f'{tag}.grad.x'] = x.grad
        for n, p in head.named_parameters():
            if p.requires_grad:
                named[f'{tag}.grad.{n}'] = p.grad
    meta = {'B': B, 'in': IN, 'hidden': HID, 'bottleneck': BOT, 'out': OUT_DIM, 'nlayers': NL, 'scale': SCALE}
    write_safetensors('dino-head', meta, named)


if __name__ == '__main__':
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    dino_head_fixture()
