#!/usr/bin/env bash
# Where lavapipe's JIT-compiled shader code spends its time, by instruction kind. GALLIVM_DEBUG=asm
# cuts large functions short, so this samples a running process with perf, dumps its anonymous
# executable mappings from /proc/PID/mem, disassembles the hottest one with objdump and charges
# each sample to the instruction at its address (perf's skid blurs neighbours; read classes,
# not single lines). Needs perf, objdump and python3; run as root or with perf_event_paranoid <= 1.
#
#   npx esbuild scripts/attention-ab.ts --bundle --platform=node --format=esm --loader:.wgsl=text \
#     --external:webgpu --outfile=dist/attention-ab.mjs
#   bash scripts/jit-profile.sh OUTDIR node dist/attention-ab.mjs bwd 6 6 400 785 48
# WARM (default 20) seconds after the start (compiles, first rounds), then SECS (15) sampled.
set -euo pipefail
out=$1; shift
mkdir -p "$out"
"$@" > "$out/run.log" 2>&1 &
pid=$!
sleep "${WARM:-20}"
perf record -F 1999 -p "$pid" -o "$out/perf.data" -- sleep "${SECS:-15}" > /dev/null 2>&1
python3 - "$pid" "$out" <<'PY'
import sys
pid, out = sys.argv[1], sys.argv[2]
mem = open(f'/proc/{pid}/mem', 'rb')
with open(f'{out}/regions.txt', 'w') as regions:
    for line in open(f'/proc/{pid}/maps'):
        f = line.split()
        if 'x' not in f[1] or (len(f) > 5 and not f[5].startswith('[anon')):
            continue
        lo, hi = (int(x, 16) for x in f[0].split('-'))
        if hi - lo > 64 << 20:
            continue
        try:
            mem.seek(lo)
            data = mem.read(hi - lo)
        except OSError:
            continue
        open(f'{out}/jit_{lo:x}.bin', 'wb').write(data)
        regions.write(f'{lo:x} {hi:x}\n')
PY
kill "$pid" 2> /dev/null || true
perf script -i "$out/perf.data" -F ip 2> /dev/null | sort | uniq -c > "$out/ips.txt"
python3 - "$out" <<'PY'
import collections, re, subprocess, sys
out = sys.argv[1]
ips = {int(ip, 16): int(c) for c, ip in (l.split() for l in open(f'{out}/ips.txt'))}
regions = [tuple(int(x, 16) for x in l.split()) for l in open(f'{out}/regions.txt')]
lo, hi = max(regions, key=lambda r: sum(c for a, c in ips.items() if r[0] <= a < r[1]))
inside = sum(c for a, c in ips.items() if lo <= a < hi)
print(f'samples {sum(ips.values())}, in the hottest JIT region {lo:x}-{hi:x}: {inside}')
dis = subprocess.run(['objdump', '-D', '-b', 'binary', '-mi386:x86-64', f'--adjust-vma={lo:#x}',
                      f'{out}/jit_{lo:x}.bin'], capture_output=True, text=True).stdout
kinds = collections.Counter()
for line in dis.splitlines():
    m = re.match(r'\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*(\S+)\s*(.*)', line)
    if not m or int(m.group(1), 16) not in ips:
        continue
    op, args = m.group(2), m.group(3)
    if op in ('vmovaps', 'vmovups', 'vmovdqa', 'vmovdqu'):
        op += ' store' if args.endswith('(%rsp)') else ' load' if '(' in args else ' reg'
    kinds[op] += ips[int(m.group(1), 16)]
for op, c in kinds.most_common(20):
    print(f'{op:16s} {c:7d} {100 * c / inside:5.1f}%')
PY
