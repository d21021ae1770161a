#!/usr/bin/python3
"""Write the PyTorch oracle fixtures that tests compare against (no Python at test time).

    apt-get install python3-torch      # Debian's PyTorch (CPU)
    /usr/bin/python3 scripts/make-fixtures.py   # Debian's python3 (where python3-torch lives)

Each fixture is JSON: {"format": "medivlad-fixture", "version": 1, "torch": ..., "rebuild": ...,
"meta": {...}, "tensors": {name: {"shape": [...], "data": [...]}}} with float64 values of
float32 (or float64) tensors, row-major. Inputs are seeded uniform [-1, 1), never zeros.
"""
import json
import math
import os
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')
VERSION = 1


def uniform(gen, *shape):
    return torch.rand(*shape, generator=gen, dtype=torch.float64).mul(2).sub(1).float()


def tensors_json(named):
    out = {}
    for name, t in named.items():
        t = t.detach().to(torch.float64).contiguous()
        out[name] = {'shape': list(t.shape), 'data': [float(v) for v in t.reshape(-1).tolist()]}
    return out


def write(name, meta, named):
    os.makedirs(OUT, exist_ok=True)
    doc = {
        'format': 'medivlad-fixture',
        'version': VERSION,
        'torch': torch.__version__,
        'rebuild': '/usr/bin/python3 scripts/make-fixtures.py',
        'meta': meta,
        'tensors': tensors_json(named),
    }
    path = os.path.join(OUT, name + '.json')
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(doc, f, separators=(',', ':'))
    os.replace(tmp, path)
    print(f'wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)')


def clip_per_tensor(params, c):
    """DINO's clip_gradients: each tensor's grad *= min(1, c / (||g|| + 1e-6))."""
    for p in params:
        if p.grad is None:
            continue
        norm = p.grad.data.norm(2)
        coef = c / (norm + 1e-6)
        if coef < 1:
            p.grad.data.mul_(coef)


def mlp_fixture():
    """2-layer MLP with LayerNorm + GELU: forward, every gradient, 3 AdamW steps with clipping."""
    gen = torch.Generator().manual_seed(1234)
    B, DIN, H, C = 5, 17, 33, 3
    x = uniform(gen, B, DIN)
    y = torch.tensor([0, 2, 1, 2, 0])
    fc1 = torch.nn.Linear(DIN, H)
    ln = torch.nn.LayerNorm(H, eps=1e-6)
    fc2 = torch.nn.Linear(H, C)
    with torch.no_grad():
        for m in (fc1, fc2):
            m.weight.copy_(uniform(gen, *m.weight.shape) * 0.5)
            m.bias.copy_(uniform(gen, *m.bias.shape) * 0.5)
        ln.weight.copy_(1 + 0.3 * uniform(gen, H))
        ln.bias.copy_(0.3 * uniform(gen, H))
    model = torch.nn.Sequential()
    model.add_module('fc1', fc1)
    model.add_module('norm', ln)
    model.add_module('act', torch.nn.GELU())
    model.add_module('fc2', fc2)

    named = {'x': x, 'y': y.double()}
    for n, p in model.named_parameters():
        named['init.' + n] = p.detach().clone()

    def loss_fn():
        return torch.nn.functional.cross_entropy(model(x), y)

    out = model(x)
    loss = torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    named['out'] = out
    named['loss'] = loss.reshape(1)
    for n, p in model.named_parameters():
        named['grad.' + n] = p.grad.detach().clone()

    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{'params': decay}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.04)
    model.zero_grad()
    losses = []
    for step in range(3):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        losses.append(loss.item())
        clip_per_tensor(model.parameters(), 0.5)
        opt.step()
        for n, p in model.named_parameters():
            named[f'step{step + 1}.{n}'] = p.detach().clone()
    named['losses'] = torch.tensor(losses, dtype=torch.float64)
    write('mlp-adamw', {'B': B, 'DIN': DIN, 'H': H, 'C': C, 'lr': 1e-2, 'weight_decay': 0.04,
                        'clip': 0.5, 'eps_ln': 1e-6, 'loss': 'cross_entropy(mean)'}, named)




def pos_embed_fixture():
    """DINO's interpolate_pos_encoding on a 28x28 grid to 96 px (12x12) and 64 px (8x8), patch 8."""
    gen = torch.Generator().manual_seed(77)
    D, g = 5, 28
    pos = uniform(gen, 1, g * g, D)
    named = {'pos': pos}
    for px in (96, 64, 72):
        h0 = px // 8 + 0.1
        w0 = px // 8 + 0.1
        grid = pos.reshape(1, g, g, D).permute(0, 3, 1, 2)
        out = torch.nn.functional.interpolate(grid, scale_factor=(h0 / g, w0 / g), mode='bicubic', align_corners=False)
        named[f'out{px}'] = out.permute(0, 2, 3, 1).reshape(-1, D)
    write('pos-embed', {'D': D, 'g': g, 'patch': 8, 'sizes': [96, 64, 72]}, named)


if __name__ == '__main__':
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    mlp_fixture()
    pos_embed_fixture()
    sys.exit(0)
