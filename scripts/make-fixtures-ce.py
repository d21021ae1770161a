#!/usr/bin/python3
"""PyTorch oracle for the cross-entropy op (F.cross_entropy: log-softmax + NLL), forward and
backward, in the JSON format of scripts/make-fixtures.py.

    /usr/bin/python3 scripts/make-fixtures-ce.py   # Debian's python3 (python3-torch)

Writes test/fixtures/cross-entropy.json. Each case k holds logits (B, C) seeded uniform in
[-s, s) rounded to float32, labels (B), optional class weights (C), the loss and d loss /
d logits (computed in float64 on the float32 inputs, so they are the exact answer for them),
plus, for reduction 'none', the upstream gradient of the per-row losses.
"""
import json

import torch
import torch.nn.functional as F

import fixture_io  # scripts/ is on sys.path when a script there runs

REBUILD = '/usr/bin/python3 scripts/make-fixtures-ce.py'

# (B, C, logit scale, reduction, weighted): a batch of 1, odd class counts, a wide range.
CASES = [
    (5, 3, 2.0, 'mean', False),
    (1, 7, 4.0, 'mean', False),
    (17, 5, 8.0, 'sum', False),
    (13, 4, 2.0, 'mean', True),
    (9, 385, 6.0, 'sum', True),
    (6, 3, 3.0, 'none', True),
]


def main():
    gen = torch.Generator().manual_seed(4321)
    named = {}
    meta = {'cases': []}
    for k, (b, c, scale, reduction, weighted) in enumerate(CASES):
        logits = ((torch.rand(b, c, generator=gen, dtype=torch.float64) * 2 - 1) * scale).float().double()
        labels = torch.randint(0, c, (b,), generator=gen)
        weight = (torch.rand(c, generator=gen, dtype=torch.float64) * 1.5 + 0.25).float().double() if weighted else None
        x = logits.clone().requires_grad_(True)
        loss = F.cross_entropy(x, labels, weight=weight, reduction=reduction)
        grad_out = (torch.rand(b, generator=gen, dtype=torch.float64) * 2 - 1).float().double() if reduction == 'none' else None
        loss.backward(grad_out)
        p = f'case{k}.'
        named[p + 'logits'] = logits
        named[p + 'labels'] = labels.double()
        if weight is not None:
            named[p + 'weight'] = weight
        if grad_out is not None:
            named[p + 'grad_out'] = grad_out
        named[p + 'loss'] = loss.detach().reshape(-1)
        named[p + 'grad'] = x.grad
        meta['cases'].append({'B': b, 'C': c, 'reduction': reduction, 'weighted': weighted})
    fixture_io.write('cross-entropy', meta, named, REBUILD)


if __name__ == '__main__':
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    main()
