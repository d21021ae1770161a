#!/usr/bin/python3
"""PyTorch oracle fixtures for the fused kernels: DINO loss (SPEC §9, with the 2·B center of
§11) and DualVLAD / NetVLAD (SPEC §4, §5). Same JSON format as scripts/make-fixtures.py.

    /usr/bin/python3 scripts/make-fixtures-fused.py   # Debian's python3 (python3-torch)

Writes test/fixtures/dino-loss.json and test/fixtures/dualvlad.json. The modules run in float64
on float32-representable inputs, so the fixtures are the exact answer for the float32 data.
"""
import json

import torch
import torch.nn.functional as F

import fixture_io  # scripts/ is on sys.path when a script there runs

REBUILD = '/usr/bin/python3 scripts/make-fixtures-fused.py'


def uniform(gen, *shape, lo=-1.0, hi=1.0):
    """Seeded U[lo, hi) rounded to float32, returned as float64."""
    return (torch.rand(*shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo).float().double()


def write(name, meta, named):
    fixture_io.write(name, meta, named, REBUILD)


# ============ DINO loss ============

def dino_loss(student_output, teacher_output, center, ncrops, tau_s, tau_t, momentum):
    """DINO's DINOLoss.forward + update_center, with the center averaged over all 2·B rows."""
    student_out = (student_output / tau_s).chunk(ncrops)
    teacher_out = F.softmax((teacher_output - center) / tau_t, dim=-1).detach().chunk(2)
    total_loss = 0
    n_loss_terms = 0
    for iq, q in enumerate(teacher_out):
        for v in range(len(student_out)):
            if v == iq:
                continue
            loss = torch.sum(-q * F.log_softmax(student_out[v], dim=-1), dim=-1)
            total_loss += loss.mean()
            n_loss_terms += 1
    total_loss /= n_loss_terms
    batch_center = teacher_output.mean(dim=0, keepdim=True)  # (1, K) over 2·B rows
    new_center = center * momentum + batch_center * (1 - momentum)
    return total_loss, new_center


def dino_fixture():
    gen = torch.Generator().manual_seed(2024)
    cases = [
        # (name, crops, B, K, tau_s, tau_t, teacher logit scale)
        ('a', 4, 3, 65, 0.1, 0.04, 3.0),
        ('b', 12, 2, 33, 0.1, 0.06, 2.0),
    ]
    named = {}
    meta = {'momentum': 0.9, 'cases': []}
    for name, V, B, K, ts, tt, scale in cases:
        student = uniform(gen, V * B, K, lo=-4, hi=4).requires_grad_(True)
        teacher = uniform(gen, 2 * B, K, lo=-scale, hi=scale)
        center = uniform(gen, 1, K, lo=-0.5, hi=0.5)
        loss, new_center = dino_loss(student, teacher, center, V, ts, tt, 0.9)
        loss.backward()
        meta['cases'].append({'name': name, 'crops': V, 'B': B, 'K': K, 'tau_s': ts, 'tau_t': tt})
        named[f'{name}.student'] = student
        named[f'{name}.teacher'] = teacher
        named[f'{name}.center'] = center.reshape(K)
        named[f'{name}.loss'] = loss.reshape(1)
        named[f'{name}.grad_student'] = student.grad
        named[f'{name}.new_center'] = new_center.reshape(K)
    write('dino-loss', meta, named)


# ============ DualVLAD / NetVLAD ============

class DualVLAD(torch.nn.Module):
    """SPEC §4 step by step, in the original's layout (conv 1×1 on (B, D, S, 1))."""

    def __init__(self, K, D, gen, alpha=1.0):
        super().__init__()
        self.K, self.D = K, D
        c = torch.rand(K, D, generator=gen, dtype=torch.float64).float().double()  # U[0, 1)
        self.centroids = torch.nn.Parameter(c)
        self.conv = torch.nn.Conv2d(D, K, kernel_size=1, bias=True).double()
        # w_k = 2α c_k, b_k = −α ‖c_k‖ (norm, not squared: the lyakaap quirk), then perturbed a
        # little so that w, b and c are visibly separate parameters in the gradients.
        with torch.no_grad():
            w = 2 * alpha * c + 0.1 * uniform(gen, K, D)
            b = -alpha * c.norm(dim=1) + 0.1 * uniform(gen, K)
            self.conv.weight.copy_(w.float().double()[:, :, None, None])
            self.conv.bias.copy_(b.float().double())
        kd = K * D
        self.V = torch.nn.Sequential(torch.nn.Linear(kd, kd), torch.nn.Tanh()).double()
        self.w = torch.nn.Sequential(torch.nn.Linear(kd, 1)).double()
        with torch.no_grad():  # default init, then rounded to float32
            for p in list(self.V.parameters()) + list(self.w.parameters()):
                p.copy_(p.float().double())

    def assign_residual(self, x):
        B, S, D = x.shape
        K = self.K
        x = x.permute(0, 2, 1).unsqueeze(-1)                  # (B, D, S, 1)
        x = F.normalize(x, p=2, dim=1)                        # 1. frame L2 (eps 1e-12)
        a = F.softmax(self.conv(x).view(B, K, S), dim=1)      # 2. (B, K, S) softmax over K
        xf = x.view(B, D, S)
        res = xf.unsqueeze(1) - self.centroids.view(1, K, D, 1)  # (B, K, D, S)
        res = res * a.unsqueeze(2)                            # 3. r_ik = a_ik (x_i − c_k)
        r = res.permute(0, 3, 1, 2).reshape(B, S, K * D)      # cluster-major k·D + j
        return a.permute(0, 2, 1), r                          # (B, S, K), (B, S, K·D)

    def aggregate(self, r, beta):
        B = r.shape[0]
        if beta is None:
            R = r.sum(dim=1)                                  # NetVLAD: plain sum over S
        else:
            R = torch.bmm(beta.unsqueeze(1), r).squeeze(1)    # 5. (B, 1, S) × (B, S, Kd)
        R = F.normalize(R.view(B, self.K, self.D), p=2, dim=2)  # 6. intra-normalisation
        return F.normalize(R.reshape(B, -1), p=2, dim=1)      # 7. global L2

    def forward(self, x):
        a, r = self.assign_residual(x)
        e = self.w(self.V(r)).squeeze(-1)                     # 4. (B, S) frame scores
        beta = F.softmax(e / 1.2, dim=1)                      #    softmax over frames
        return a, r, beta, self.aggregate(r, beta)


def dualvlad_fixture():
    gen = torch.Generator().manual_seed(4242)
    torch.manual_seed(4243)  # nn.Linear's default init draws from the global generator
    B, S, D, K, C = 2, 5, 24, 3, 3
    vlad = DualVLAD(K, D, gen)
    dense = torch.nn.Linear(K * D, C).double()
    with torch.no_grad():
        for p in dense.parameters():
            p.copy_(p.float().double())
    x = uniform(gen, B, S, D).requires_grad_(True)
    wl = uniform(gen, B, C)

    named = {'x': x, 'loss_weight': wl,
             'centroids': vlad.centroids, 'conv.weight': vlad.conv.weight.reshape(K, D), 'conv.bias': vlad.conv.bias,
             'V.weight': vlad.V[0].weight, 'V.bias': vlad.V[0].bias, 'w.weight': vlad.w[0].weight,
             'w.bias': vlad.w[0].bias, 'dense.weight': dense.weight, 'dense.bias': dense.bias}

    a, r, beta, desc = vlad(x)
    logits = dense(desc)
    loss = (wl * logits).sum()
    loss.backward()
    named.update({'a': a, 'r': r, 'beta': beta, 'descriptor': desc, 'logits': logits, 'loss': loss.reshape(1),
                  'grad.x': x.grad, 'grad.centroids': vlad.centroids.grad,
                  'grad.conv.weight': vlad.conv.weight.grad.reshape(K, D), 'grad.conv.bias': vlad.conv.bias.grad,
                  'grad.V.weight': vlad.V[0].weight.grad, 'grad.V.bias': vlad.V[0].bias.grad,
                  'grad.w.weight': vlad.w[0].weight.grad, 'grad.w.bias': vlad.w[0].bias.grad,
                  'grad.dense.weight': dense.weight.grad, 'grad.dense.bias': dense.bias.grad})

    # NetVLAD (β ≡ 1) on the same parameters: loss = Σ wn · descriptor.
    for p in [x] + list(vlad.parameters()):
        p.grad = None
    wn = uniform(gen, B, K * D)
    _, rn = vlad.assign_residual(x)
    descn = vlad.aggregate(rn, None)
    (wn * descn).sum().backward()
    named.update({'netvlad.loss_weight': wn, 'netvlad.descriptor': descn, 'netvlad.grad.x': x.grad,
                  'netvlad.grad.centroids': vlad.centroids.grad,
                  'netvlad.grad.conv.weight': vlad.conv.weight.grad.reshape(K, D),
                  'netvlad.grad.conv.bias': vlad.conv.bias.grad})
    write('dualvlad', {'B': B, 'S': S, 'D': D, 'K': K, 'C': C, 'alpha': 1.0, 'frame_temperature': 1.2,
                       'loss': 'sum(loss_weight * logits); netvlad: sum(netvlad.loss_weight * descriptor)'}, named)


if __name__ == '__main__':
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    dino_fixture()
    dualvlad_fixture()
