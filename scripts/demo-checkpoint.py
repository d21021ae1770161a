#!/usr/bin/env python3
"""Make the demo page's checkpoint from a main-job MeDiVLAD checkpoint: every F32 tensor stored
as F16 (half the bytes; the loaders convert F16 to f32 exactly), metadata kept.

    /usr/bin/python3 scripts/demo-checkpoint.py runs/repro/video/fold0/medivlad.safetensors \
        web/demo/assets/demo.safetensors

The result is what the demo scores with, so the weights the page uses are the F16-rounded ones
(relative change <= 2^-11 per weight); a tensor whose values do not fit F16 is an error.
"""
import json
import os
import struct
import sys

import numpy as np


def main(src: str, dst: str) -> None:
    with open(src, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    meta = header.pop('__metadata__', None)
    out_header, chunks, offset = {}, [], 0
    for name in sorted(header, key=lambda k: header[k]['data_offsets'][0]):
        h = header[name]
        a, b = h['data_offsets']
        if h['dtype'] != 'F32':
            raise SystemExit(f'{src}: tensor {name} is {h["dtype"]}, expected F32')
        x = np.frombuffer(body[a:b], dtype='<f4')
        if np.any(np.abs(x) > 65504):
            raise SystemExit(f'{src}: tensor {name} {h["shape"]} has values beyond the F16 range')
        data = x.astype('<f2').tobytes()
        out_header[name] = {'dtype': 'F16', 'shape': h['shape'], 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if meta is not None:
        out_header['__metadata__'] = meta
    hb = json.dumps(out_header, separators=(',', ':')).encode()
    hb += b' ' * (-len(hb) % 8)  # keep the tensor data 8-byte aligned
    tmp = dst + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(hb)) + hb + b''.join(chunks))
    os.replace(tmp, dst)
    print(f'wrote {dst}: {len(out_header) - (meta is not None)} tensors, {os.path.getsize(dst)} bytes')


if __name__ == '__main__':
    if len(sys.argv) != 3:
        raise SystemExit('usage: demo-checkpoint.py SRC.safetensors DST.safetensors')
    main(sys.argv[1], sys.argv[2])
