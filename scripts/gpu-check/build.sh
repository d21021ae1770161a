#!/usr/bin/env bash
# Builds a self-contained kit that runs the GPU test files and benchmarks on a machine with a
# real GPU but without node_modules (e.g. a lent GPU box): the test files bundled with a
# minimal vitest stand-in, the bench dispatcher bundled with tfjs, plus node and dawn.node
# compressed. Output: .devchk/ (git-ignored). On the GPU machine, from the repo root:
#   xz -dc .devchk/node.xz > /tmp/node && chmod +x /tmp/node
#   mkdir -p node_modules && cp -r .devchk/nm/webgpu node_modules/ && xz -d node_modules/webgpu/dist/linux-x64/dawn.node.xz
#   cp .devchk/checks.mjs test/helpers/devchk.mjs && ln -sfn ../fixtures test/helpers/fixtures
#   /tmp/node test/helpers/devchk.mjs            # "N passed, M failed"
#   cp .devchk/bench.mjs test/helpers/devbench.mjs && /tmp/node test/helpers/devbench.mjs matmul,attention
# (Vulkan: the loader libvulkan1 must be installed; set VK_DRIVER_FILES to the NVIDIA ICD json
# if no adapter is found.) scripts/gpu-check/device.sh does all of the above in one command.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .devchk/nm/webgpu/dist/linux-x64
B="--bundle --platform=node --format=esm --target=node20 --loader:.wgsl=text --external:webgpu --log-level=warning"
BANNER="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
npx esbuild scripts/gpu-check/checks.ts $B --alias:vitest=./scripts/gpu-check/vitest-shim.ts --outfile=.devchk/checks.mjs --banner:js="$BANNER"
npx esbuild scripts/gpu-check/bench.ts $B --outfile=.devchk/bench.mjs --banner:js="$BANNER"
xz -T2 -6 -c "$(command -v node)" > .devchk/node.xz
cp node_modules/webgpu/index.js node_modules/webgpu/package.json .devchk/nm/webgpu/
xz -T2 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > .devchk/nm/webgpu/dist/linux-x64/dawn.node.xz
du -sh .devchk
