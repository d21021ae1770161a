#!/usr/bin/python3
"""PyTorch oracle for the resized crop of shaders/augment.wgsl (antialiased bicubic).

    /usr/bin/python3 scripts/make-fixtures-augment.py   # writes test/fixtures/augment.json

torch.nn.functional.interpolate(mode='bicubic', antialias=True, align_corners=False) on integer
crop boxes, as torchvision's resized_crop does on tensors. PyTorch's antialiased bicubic uses
the PIL coefficient a = -0.5. Format as scripts/make-fixtures.py (medivlad-fixture v1).
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'augment.json')

# (x0, y0, w, h, size): 4x and odd downscales, an upscale, a non-square box, the full image.
BOXES = [(0, 0, 37, 37, 9), (3, 5, 30, 22, 17), (10, 2, 8, 7, 17), (1, 0, 36, 37, 9), (0, 0, 37, 37, 37), (5, 9, 13, 27, 11)]


def main():
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(1, 3, 37, 37, generator=gen, dtype=torch.float64).float()
    tensors = {'x': x}
    for k, (x0, y0, w, h, s) in enumerate(BOXES):
        crop = x[:, :, y0:y0 + h, x0:x0 + w].double()
        y = torch.nn.functional.interpolate(crop, size=(s, s), mode='bicubic', antialias=True, align_corners=False)
        tensors[f'crop{k}'] = y
    doc = {
        'format': 'medivlad-fixture', 'version': 1, 'torch': torch.__version__,
        'rebuild': '/usr/bin/python3 scripts/make-fixtures-augment.py',
        'meta': {'boxes': [list(b) for b in BOXES], 'a': -0.5},
        'tensors': {n: {'shape': list(t.shape), 'data': [float(v) for v in t.double().reshape(-1).tolist()]} for n, t in tensors.items()},
    }
    with open(OUT + '.tmp', 'w') as f:
        json.dump(doc, f, separators=(',', ':'))
    os.replace(OUT + '.tmp', OUT)
    print(f'wrote {os.path.relpath(OUT)} ({os.path.getsize(OUT)} bytes)')


if __name__ == '__main__':
    main()
