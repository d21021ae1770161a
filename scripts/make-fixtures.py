#!/usr/bin/python3
"""Write the PyTorch oracle fixtures that tests compare against (no Python at test time).

    apt-get install python3-torch      # Debian's PyTorch (CPU)
    /usr/bin/python3 scripts/make-fixtures.py   # Debian's python3 (where python3-torch lives)

Each fixture is JSON: {"format": "medivlad-fixture", "version": 1, "torch": ..., "rebuild": ...,
"meta": {...}, "tensors": {name: {"shape": [...], "data": [...]}}} with float64 values of
float32 (or float64) tensors, row-major. Inputs are seeded uniform [-1, 1), never zeros.
"""
import math
import os
import sys

import torch

import fixture_io  # scripts/ is on sys.path when a script there runs


def uniform(gen, *shape):
    return torch.rand(*shape, generator=gen, dtype=torch.float64).mul(2).sub(1).float()


REBUILD = '/usr/bin/python3 scripts/make-fixtures.py'


def write(name, meta, named):
    fixture_io.write(name, meta, named, REBUILD)


def write_safetensors(name, meta, named):
    fixture_io.write_safetensors(name, meta, named, REBUILD)


def formula_fill(module, scale):
    """Deterministic weights both sides can compute (no RNG to share): parameter k (in
    named_parameters order), element i: scale * sin(0.37 i + 1.3 k + 0.5), computed in float64
    and rounded to float32; LayerNorm weights 1 + that. Mirrors test/helpers/formula-init.ts."""
    with torch.no_grad():
        for k, (n, p) in enumerate(module.named_parameters()):
            i = torch.arange(p.numel(), dtype=torch.float64)
            v = scale * torch.sin(0.37 * i + 1.3 * k + 0.5)
            if n.endswith('norm1.weight') or n.endswith('norm2.weight') or n == 'norm.weight':
                v = 1 + v
            p.copy_(v.reshape(p.shape).float())


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

# ----------------------------------------------------------------------------- ViT (DINO)
# A re-statement of DINO's vision_transformer.py (SPEC §9) with the same parameter names.

class Attn(torch.nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = torch.nn.Linear(dim, dim * 3, bias=True)
        self.proj = torch.nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x), attn


class Mlp(torch.nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = torch.nn.Linear(dim, hidden)
        self.act = torch.nn.GELU()
        self.fc2 = torch.nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(torch.nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attn(dim, heads)
        self.norm2 = torch.nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        y, attn = self.attn(self.norm1(x))
        x = x + y
        x = x + self.mlp(self.norm2(x))
        return x, attn


class PatchEmbed(torch.nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = torch.nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class ViT(torch.nn.Module):
    def __init__(self, img, patch, dim, depth, heads):
        super().__init__()
        self.patch = patch
        n = (img // patch) ** 2
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, n + 1, dim))
        self.blocks = torch.nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = torch.nn.LayerNorm(dim, eps=1e-6)

    def interpolate_pos_encoding(self, x, w, h):
        npatch = x.shape[1] - 1
        N = self.pos_embed.shape[1] - 1
        if npatch == N and w == h:
            return self.pos_embed
        class_pos_embed = self.pos_embed[:, 0]
        patch_pos_embed = self.pos_embed[:, 1:]
        dim = x.shape[-1]
        w0 = w // self.patch + 0.1
        h0 = h // self.patch + 0.1
        g = int(math.sqrt(N))
        patch_pos_embed = torch.nn.functional.interpolate(
            patch_pos_embed.reshape(1, g, g, dim).permute(0, 3, 1, 2),
            scale_factor=(w0 / g, h0 / g), mode='bicubic', align_corners=False)
        patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
        return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)

    def forward(self, x):
        B, nc, w, h = x.shape
        t = self.patch_embed(x)
        t = torch.cat((self.cls_token.expand(B, -1, -1), t), dim=1)
        t = t + self.interpolate_pos_encoding(t, w, h)
        attn = None
        for b in self.blocks:
            t, attn = b(t)
        return self.norm(t)[:, 0], attn


def randomize(module, gen, scale=0.2):
    with torch.no_grad():
        for n, p in module.named_parameters():
            if n.endswith('norm1.weight') or n.endswith('norm2.weight') or n == 'norm.weight':
                p.copy_(1 + 0.2 * uniform(gen, *p.shape))
            else:
                p.copy_(scale * uniform(gen, *p.shape))


def vit_tiny_fixture():
    """Tiny ViT (32 px, patch 8, width 32, 2 blocks, 2 heads of 16): CLS, last attention,
    every gradient of loss = sum(w * cls), at the native size and at 24 px (interpolated)."""
    gen = torch.Generator().manual_seed(31)
    img, patch, dim, depth, heads, B = 32, 8, 32, 2, 2, 3
    model = ViT(img, patch, dim, depth, heads)
    formula_fill(model, 0.2)
    named = {}
    for size in (32, 24):
        x = uniform(gen, B, 3, size, size)
        w = uniform(gen, B, dim)
        model.zero_grad()
        cls, attn = model(x)
        (cls * w).sum().backward()
        named[f'x{size}'] = x
        named[f'w{size}'] = w
        named[f'cls{size}'] = cls
        named[f'attn{size}'] = attn
        for n, p in model.named_parameters():
            named[f'grad{size}.' + n] = p.grad.detach().clone()
    write_safetensors('vit-tiny', {'img': img, 'patch': patch, 'dim': dim, 'depth': depth, 'heads': heads, 'B': B,
                       'sizes': [32, 24], 'loss': 'sum(w * cls)'}, named)


def vit_block_fixture():
    """One ViT-S/8 block (D 384, 6 heads of 64) on N = 65 tokens: output and all gradients."""
    gen = torch.Generator().manual_seed(5)
    B, N, D, H = 2, 65, 384, 6
    blk = Block(D, H)
    formula_fill(blk, 0.05)
    x = uniform(gen, B, N, D).requires_grad_(True)
    w = uniform(gen, B, N, D)
    y, attn = blk(x)
    (y * w).sum().backward()
    named = {'x': x.detach(), 'w': w, 'y': y, 'attn': attn, 'grad.x': x.grad}
    # Weight-matrix gradients are large (1.8 M values): keep every 7th row, plus full norms.
    for n, p in blk.named_parameters():
        g = p.grad.detach()
        if g.ndim == 2:
            named['grad.' + n + '.rows7'] = g[::7]
        else:
            named['grad.' + n] = g.clone()
        named['gradnorm.' + n] = g.norm().reshape(1)
    write_safetensors('vit-s8-block', {'B': B, 'N': N, 'D': D, 'heads': H, 'loss': 'sum(w * y)', 'row_stride': 7}, named)

# ----------------------------------------------------------------------------- DINO (3 steps)

class DINOHead(torch.nn.Module):
    def __init__(self, in_dim, out_dim, hidden, bottleneck, norm_last_layer=True):
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(in_dim, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, hidden),
                                       torch.nn.GELU(), torch.nn.Linear(hidden, bottleneck))
        self.last_layer = torch.nn.utils.weight_norm(torch.nn.Linear(bottleneck, out_dim, bias=False))
        self.last_layer.weight_g.data.fill_(1)
        if norm_last_layer:
            self.last_layer.weight_g.requires_grad = False

    def forward(self, x):
        x = self.mlp(x)
        x = torch.nn.functional.normalize(x, dim=-1, p=2)
        return self.last_layer(x)


class MultiCropWrapper(torch.nn.Module):
    """DINO's wrapper: crops grouped by resolution through the backbone, one head call."""
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, crops):
        sizes = torch.tensor([c.shape[-1] for c in crops])
        ends = torch.cumsum(torch.unique_consecutive(sizes, return_counts=True)[1], 0)
        start, outs = 0, []
        for end in ends:
            cls, _ = self.backbone(torch.cat(crops[start:end]))
            outs.append(cls)
            start = end
        return self.head(torch.cat(outs))


def cosine_scheduler(base, final, epochs, niter, warmup_epochs=0, start_warmup=0.0):
    import numpy as np
    warm = np.array([])
    wi = warmup_epochs * niter
    if warmup_epochs > 0:
        warm = np.linspace(start_warmup, base, wi)
    iters = np.arange(epochs * niter - wi)
    sched = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warm, sched))


def dino_fixture():
    """DINO's train_one_epoch for 3 iterations (1 per epoch) on fixed crops: loss, center,
    student and teacher parameters after each step. Per-tensor clipping, last layer frozen in
    epoch 0, teacher temperature warm-up, global centering (not MeDiVLAD's per-slot bug)."""
    import re
    gen = torch.Generator().manual_seed(11)
    img, patch, dim, depth, heads, B = 16, 8, 16, 1, 2, 2
    out_dim, hidden, bottleneck = 11, 24, 8
    student = MultiCropWrapper(ViT(img, patch, dim, depth, heads), DINOHead(dim, out_dim, hidden, bottleneck))
    teacher = MultiCropWrapper(ViT(img, patch, dim, depth, heads), DINOHead(dim, out_dim, hidden, bottleneck))
    with torch.no_grad():  # the formula of test/helpers/formula-init.ts
        for k, (n, p) in enumerate(student.named_parameters()):
            i = torch.arange(p.numel(), dtype=torch.float64)
            v = 0.3 * torch.sin(0.37 * i + 1.3 * k + 0.5)
            if re.search(r'(^|\.)norm[12]?\.weight$', n):
                v = 1 + v
            p.copy_(v.reshape(p.shape).float())
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad = False
    epochs, niter = 3, 1
    lr_s = cosine_scheduler(0.01, 1e-4, epochs, niter)
    wd_s = cosine_scheduler(0.04, 0.4, epochs, niter)
    mom_s = cosine_scheduler(0.9, 1.0, epochs, niter)
    import numpy as np
    temp_s = np.concatenate((np.linspace(0.04, 0.07, 2), np.ones(epochs - 2) * 0.07))
    regularized = [p for n, p in student.named_parameters() if p.requires_grad and not (n.endswith('.bias') or p.ndim == 1)]
    not_reg = [p for n, p in student.named_parameters() if p.requires_grad and (n.endswith('.bias') or p.ndim == 1)]
    # eps 1e-3 (not 1e-8): Adam's first step is g / (|g| + eps), so with eps 1e-8 a gradient
    # that is ~0 up to float rounding (dead GELU units) turns rounding noise into O(lr) changes;
    # the larger eps keeps the comparison well-conditioned without changing what is tested.
    opt = torch.optim.AdamW([{'params': regularized}, {'params': not_reg, 'weight_decay': 0.0}], eps=1e-3)
    center = torch.zeros(1, out_dim)
    named = {}
    for it in range(epochs * niter):
        epoch = it // niter
        for i, g in enumerate(opt.param_groups):
            g['lr'] = lr_s[it]
            if i == 0:
                g['weight_decay'] = wd_s[it]
        globals_ = [uniform(gen, B, 3, img, img) for _ in range(2)]
        locals_ = [uniform(gen, B, 3, 8, 8) for _ in range(2)]
        for j, c in enumerate(globals_ + locals_):
            named[f'step{it}.crop{j}'] = c
        t_out = teacher(globals_)
        s_out = student(globals_ + locals_)
        ncrops = 4
        s = (s_out / 0.1).chunk(ncrops)
        t = torch.nn.functional.softmax((t_out - center) / temp_s[epoch], dim=-1).detach().chunk(2)
        total, n = 0, 0
        for iq, q in enumerate(t):
            for v in range(ncrops):
                if v == iq:
                    continue
                total = total + torch.sum(-q * torch.nn.functional.log_softmax(s[v], dim=-1), dim=-1).mean()
                n += 1
        loss = total / n
        with torch.no_grad():
            center = center * 0.9 + (t_out.sum(dim=0, keepdim=True) / len(t_out)) * 0.1
        opt.zero_grad()
        loss.backward()
        for p in student.parameters():  # DINO's clip_gradients(model, 3.0)
            if p.grad is not None:
                norm = p.grad.data.norm(2)
                coef = 3.0 / (norm + 1e-6)
                if coef < 1:
                    p.grad.data.mul_(coef)
        if epoch < 1:  # cancel_gradients_last_layer
            for n_, p in student.named_parameters():
                if 'last_layer' in n_:
                    p.grad = None
        opt.step()
        with torch.no_grad():
            m = mom_s[it]
            for pq, pk in zip(student.parameters(), teacher.parameters()):
                pk.data.mul_(m).add_((1 - m) * pq.detach().data)
        named[f'step{it}.loss'] = loss.detach().reshape(1)
        named[f'step{it}.center'] = center.reshape(-1)
        for n_, p in student.named_parameters():
            named[f'step{it}.student.{n_}'] = p.detach().clone()
        for n_, p in teacher.named_parameters():
            named[f'step{it}.teacher.{n_}'] = p.detach().clone()
    write_safetensors('dino-steps', {
        'img': img, 'patch': patch, 'dim': dim, 'depth': depth, 'heads': heads, 'B': B, 'local': 8, 'nLocal': 2,
        'outDim': out_dim, 'hidden': hidden, 'bottleneck': bottleneck, 'epochs': epochs, 'itersPerEpoch': niter,
        'lr': 0.01, 'minLr': 1e-4, 'weightDecay': 0.04, 'weightDecayEnd': 0.4, 'momentumTeacher': 0.9,
        'warmupTeacherTemp': 0.04, 'teacherTemp': 0.07, 'warmupTeacherTempEpochs': 2, 'studentTemp': 0.1,
        'clip': 3.0, 'freezeLastLayer': 1, 'formulaScale': 0.3, 'adamEps': 1e-3}, named)


if __name__ == '__main__':
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    mlp_fixture()
    pos_embed_fixture()
    vit_tiny_fixture()
    vit_block_fixture()
    dino_fixture()
    sys.exit(0)
