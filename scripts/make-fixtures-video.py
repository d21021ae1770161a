#!/usr/bin/python3
"""PyTorch oracle fixtures for the video-level models (SPEC §4, §5): the MediVLAD classifier with
its DualVLAD layer, the same with NetVLAD (β ≡ 1), the bidirectional-LSTM baseline and the
max-score baseline. Forward outputs and every gradient (input and parameters) of
loss = sum(loss_weight * logits), in the JSON format of scripts/fixture_io.py.

    /usr/bin/python3 scripts/make-fixtures-video.py   # Debian's python3 (python3-torch)

Writes test/fixtures/video-models.json. The modules carry the PyTorch parameter names that
src/models/video-models.ts must reproduce (`vlad.centroids`, `vlad.conv.weight`, `vlad.V.0.weight`,
`dense.0.weight`, `lstm.weight_ih_l0_reverse`, ...); meta lists them in named_parameters order.
Parameters are seeded draws rounded to float32 (not the default init: larger ranges so the frame
weights β and the LSTM gates are far from uniform / linear), and the modules run in float64 on
those float32 values, so the fixture is the exact answer for the float32 data.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

import fixture_io  # scripts/ is on sys.path when a script there runs

REBUILD = '/usr/bin/python3 scripts/make-fixtures-video.py'
FRAME_TEMPERATURE = 1.2  # SPEC §4 step 4: β = softmax over frames of e / 1.2


def uniform(gen, *shape, lo=-1.0, hi=1.0):
    """Seeded U[lo, hi) rounded to float32, returned as float64."""
    return (torch.rand(*shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo).float().double()


# ============ MediVLAD: DualVLAD / NetVLAD + dense ============

class VLAD(nn.Module):
    """SPEC §4 (dual=True) and §5 NetVLAD (dual=False), in the original's layout: a 1×1 conv on
    the frame features permuted to (B, D, S, 1)."""

    def __init__(self, K, D, alpha, dual, gen):
        super().__init__()
        self.K, self.D, self.dual = K, D, dual
        c = uniform(gen, K, D, lo=0.0, hi=1.0)  # U[0, 1) as the default init
        self.centroids = nn.Parameter(c)
        self.conv = nn.Conv2d(D, K, kernel_size=1, bias=True).double()
        with torch.no_grad():
            # w_k = 2α c_k, b_k = −α ‖c_k‖ (the init of SPEC §4), then perturbed so that w, b
            # and c are visibly separate parameters in the gradients.
            w = 2 * alpha * c + 0.2 * uniform(gen, K, D)
            b = -alpha * c.norm(dim=1) + 0.2 * uniform(gen, K)
            self.conv.weight.copy_(w.float().double()[:, :, None, None])
            self.conv.bias.copy_(b.float().double())
        if dual:
            kd = K * D
            self.V = nn.Sequential(nn.Linear(kd, kd), nn.Tanh()).double()
            self.w = nn.Sequential(nn.Linear(kd, 1)).double()
            with torch.no_grad():
                self.V[0].weight.copy_(uniform(gen, kd, kd, lo=-0.6, hi=0.6))
                self.V[0].bias.copy_(uniform(gen, kd, lo=-0.3, hi=0.3))
                self.w[0].weight.copy_(uniform(gen, 1, kd, lo=-2.0, hi=2.0))
                self.w[0].bias.copy_(uniform(gen, 1))

    def forward(self, x):
        B, S, D = x.shape
        K = self.K
        xp = F.normalize(x.permute(0, 2, 1).unsqueeze(-1), p=2, dim=1)  # 1. (B, D, S, 1), frame L2
        a = F.softmax(self.conv(xp).view(B, K, S), dim=1)               # 2. (B, K, S) over K
        res = xp.view(B, D, S).unsqueeze(1) - self.centroids.view(1, K, D, 1)
        r = (res * a.unsqueeze(2)).permute(0, 3, 1, 2).reshape(B, S, K * D)  # 3. cluster-major
        if self.dual:
            e = self.w(self.V(r)).squeeze(-1)                           # 4. (B, S) frame scores
            beta = F.softmax(e / FRAME_TEMPERATURE, dim=1)
            R = torch.bmm(beta.unsqueeze(1), r).squeeze(1)              # 5. (B, Kd)
        else:
            beta = torch.full((B, S), 1.0 / S, dtype=x.dtype)           # reported weights only
            R = r.sum(dim=1)                                            # NetVLAD: plain sum
        R = F.normalize(R.view(B, K, D), p=2, dim=2)                    # 6. intra-normalisation
        return F.normalize(R.reshape(B, -1), p=2, dim=1), beta          # 7. global L2


class MediVLAD(nn.Module):
    def __init__(self, K, D, C, dual, gen):
        super().__init__()
        self.vlad = VLAD(K, D, 1.0, dual, gen)
        self.dense = nn.Sequential(nn.Linear(K * D, C)).double()
        with torch.no_grad():
            self.dense[0].weight.copy_(uniform(gen, C, K * D, lo=-2.0, hi=2.0))
            self.dense[0].bias.copy_(uniform(gen, C))

    def forward(self, x):
        desc, beta = self.vlad(x)
        return self.dense(desc), beta


# ============ Bi-LSTM baseline ============

class BiLSTMClassifier(nn.Module):
    """A bidirectional single-layer LSTM, hidden = D; dense on [final forward h ; final backward h]
    (the backward direction's final state is the one after frame 0)."""

    def __init__(self, D, C, gen):
        super().__init__()
        self.lstm = nn.LSTM(D, D, num_layers=1, batch_first=True, bidirectional=True).double()
        self.dense = nn.Sequential(nn.Linear(2 * D, C)).double()
        with torch.no_grad():
            for _, p in self.named_parameters():
                p.copy_(uniform(gen, *p.shape, lo=-0.8, hi=0.8))

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)  # h_n (2, B, H): [forward final, backward final]
        return self.dense(torch.cat([h_n[0], h_n[1]], dim=1))


# ============ max-score baseline ============

class MaxScore(nn.Module):
    """A frame classifier on every frame; severity s_i = Σ_c c·p_ic; the video's logits are those
    of the frame with the highest severity (first on ties)."""

    def __init__(self, D, C, gen):
        super().__init__()
        self.dense = nn.Sequential(nn.Linear(D, C)).double()
        with torch.no_grad():
            self.dense[0].weight.copy_(uniform(gen, C, D, lo=-1.5, hi=1.5))
            self.dense[0].bias.copy_(uniform(gen, C))

    def forward(self, x):
        B, S, _ = x.shape
        frame_logits = self.dense(x)                                   # (B, S, C)
        p = F.softmax(frame_logits, dim=-1)
        sev = (p * torch.arange(p.shape[-1], dtype=p.dtype)).sum(-1)   # (B, S)
        idx = sev.argmax(dim=1)                                        # first maximum
        logits = frame_logits[torch.arange(B), idx]                    # (B, C)
        return logits, F.one_hot(idx, S).to(x.dtype), sev, idx


# ============ fixture ============

def add_model(named, meta, tag, model, x, wl, run):
    """Forward, loss = Σ wl·logits, backward; stores params, outputs and gradients under tag."""
    for n, p in model.named_parameters():
        named[f'{tag}.param.{n}'] = p
    xg = x.clone().requires_grad_(True)
    outs = run(model, xg)
    logits = outs['logits']
    (wl * logits).sum().backward()
    for k, v in outs.items():
        named[f'{tag}.{k}'] = v
    named[f'{tag}.grad.x'] = xg.grad
    for n, p in model.named_parameters():
        named[f'{tag}.grad.{n}'] = p.grad
    meta[tag]['params'] = [[n, list(p.shape)] for n, p in model.named_parameters()]


def vlad_run(model, x):
    logits, beta = model(x)
    return {'logits': logits, 'beta': beta}


def lstm_run(model, x):
    return {'logits': model(x)}


def max_run(model, x):
    logits, onehot, sev, idx = model(x)
    top2 = sev.topk(2, dim=1).values
    gap = (top2[:, 0] - top2[:, 1]).min().item()
    assert gap > 1e-3, f'max-score fixture: severities of the top two frames within {gap}; pick another seed'
    return {'logits': logits, 'beta': onehot, 'severity': sev, 'index': idx.double()}


def main():
    gen = torch.Generator().manual_seed(7007)
    named, meta = {}, {}

    # MediVLAD, DualVLAD and NetVLAD: odd sizes, K·D = 69.
    B, S, D, K, C = 2, 5, 23, 3, 3
    x = uniform(gen, B, S, D)
    wl = uniform(gen, B, C)
    named.update({'vlad.x': x, 'vlad.loss_weight': wl})
    for tag, dual in (('dualvlad', True), ('netvlad', False)):
        meta[tag] = {'B': B, 'S': S, 'D': D, 'K': K, 'C': C, 'alpha': 1.0}
        add_model(named, meta, tag, MediVLAD(K, D, C, dual, gen), x, wl, vlad_run)
    beta = named['dualvlad.beta']
    print(f'dualvlad beta range {beta.min().item():.3f} .. {beta.max().item():.3f} (uniform {1 / S:.3f})')

    # Bi-LSTM: D = H = 7 over 5 frames, and a one-frame clip (both directions see one step).
    for tag, (B, S, D, C) in (('lstm', (3, 5, 7, 3)), ('lstm1', (2, 1, 5, 3))):
        x = uniform(gen, B, S, D)
        wl = uniform(gen, B, C)
        named.update({f'{tag}.x': x, f'{tag}.loss_weight': wl})
        meta[tag] = {'B': B, 'S': S, 'D': D, 'C': C}
        add_model(named, meta, tag, BiLSTMClassifier(D, C, gen), x, wl, lstm_run)

    # max-score: 7 frames of 11 features.
    B, S, D, C = 3, 7, 11, 3
    x = uniform(gen, B, S, D)
    wl = uniform(gen, B, C)
    named.update({'max.x': x, 'max.loss_weight': wl})
    meta['max'] = {'B': B, 'S': S, 'D': D, 'C': C}
    add_model(named, meta, 'max', MaxScore(D, C, gen), x, wl, max_run)

    meta['loss'] = 'sum(<tag>.loss_weight * <tag>.logits); inputs <group>.x'
    fixture_io.write('video-models', meta, named, REBUILD)


if __name__ == '__main__':
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    main()
