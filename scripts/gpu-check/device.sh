#!/usr/bin/env bash
# The GPU checks as one command for a lent GPU machine (the device tool runs it in a copy of the
# working tree; nothing there but the carried folders): unpack the kit of build.sh, run the GPU
# test files, then the benchmarks, writing logs and JSON to $OUT.
#
# Here, once per session (the Vulkan loader: see the device tool's README):
#   bash scripts/gpu-check/build.sh                      # -> .devchk/ (node, dawn.node, bundles)
#   (the loader .debs in .gl/, as the device README says)
# Then one call, carrying .devchk and .gl:
#   bash scripts/gpu-check/device.sh [SUITES] [CHECKS]
# SUITES: comma-separated bench suites (default attention,matmul; each tuned first, so the
# planned rows run what wins on that GPU: the tiled attention v7 was written without one);
# CHECKS: 1 (default) to run the test files first, 0 to skip them.
set -uo pipefail
suites=${1:-attention,matmul}
checks=${2:-1}
out=${OUT:-/tmp/devout}
mkdir -p "$out"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
xz -dc .devchk/node.xz > /tmp/node && chmod +x /tmp/node
mkdir -p node_modules && cp -r .devchk/nm/webgpu node_modules/ && xz -df node_modules/webgpu/dist/linux-x64/dawn.node.xz
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/gpu.txt" 2>&1
if [ "$checks" = 1 ]; then
  cp .devchk/checks.mjs test/helpers/devchk.mjs && ln -sfn ../fixtures test/helpers/fixtures
  /tmp/node test/helpers/devchk.mjs > "$out/checks.log" 2>&1
  echo "checks: exit $?"
  tail -5 "$out/checks.log"
fi
cp .devchk/bench.mjs test/helpers/devbench.mjs
OUT="$out" MEDIVLAD_CACHE_DIR="$out/cache" /tmp/node test/helpers/devbench.mjs "$suites" > "$out/bench.log" 2>&1
echo "bench: exit $?"
grep -E '^\|' "$out/bench.log" | grep -E 'picked|\*|unfused|v7' | head -60
