#!/usr/bin/python3
"""PyTorch-CPU peer for `medivlad bench model`: times the same models on this CPU.

    echo '{"case": "vit-s8-forward", "batch": 1, "repeat": 3}' | /usr/bin/python3 scripts/torch_peer.py
    echo '{"case": "vit-s8-train", "batch": 32, "size": 64, "repeat": 1}' | /usr/bin/python3 scripts/torch_peer.py

Prints one JSON object: {"ms": [...], "threads": N, "blas": "..."}. Uses the model definitions
of scripts/make-fixtures.py (DINO's ViT restated), random weights. vit-s8-forward: no grad.
vit-s8-train: the same step as `medivlad bench model` (loss = mean(CLS^2), backward,
per-tensor clipping at 3, AdamW); its warm-up step is skipped when "warmup" is 0.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import importlib.util  # noqa: E402

spec = importlib.util.spec_from_file_location('mf', __file__.rsplit('/', 1)[0] + '/make-fixtures.py')
mf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mf)


def blas():
    """The BLAS actually loaded: Debian's torch is built against the generic libblas.so.3, and
    the alternatives system decides which implementation that is (reference or OpenBLAS)."""
    import os
    for link in ('/etc/alternatives/libblas.so.3-x86_64-linux-gnu', '/etc/alternatives/libblas.so.3'):
        if os.path.exists(link):
            target = os.path.realpath(link)
            return 'openblas' if 'openblas' in target else f'reference ({target})'
    return 'unknown'


def main():
    req = json.loads(sys.stdin.read())
    repeat = int(req.get('repeat', 3))
    B = int(req.get('batch', 1))
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    grad = False
    if req['case'] == 'vit-s8-forward':
        model = mf.ViT(224, 8, 384, 12, 6).eval()
        x = torch.rand(B, 3, 224, 224)
        run = lambda: model(x)  # noqa: E731
    elif req['case'] == 'vit-s8-train':
        grad = True
        S = int(req.get('size', 64))
        model = mf.ViT(224, 8, 384, 12, 6).train()
        x = torch.rand(B, 3, S, S)
        opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.04)

        def run():
            opt.zero_grad()
            cls, _ = model(x)
            (cls ** 2).mean().backward()
            for p in model.parameters():
                torch.nn.utils.clip_grad_norm_(p, 3.0)
            opt.step()
    else:
        raise SystemExit(f'unknown case {req["case"]}')
    ms = []
    with torch.set_grad_enabled(grad):
        if int(req.get('warmup', 1)):
            run()
        for _ in range(repeat):
            t0 = time.perf_counter()
            run()
            ms.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({'ms': ms, 'threads': torch.get_num_threads(), 'blas': blas(), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
