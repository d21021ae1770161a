import { initNode, shutdownNode } from '../../src/node/index.js';
import { runBench } from '../../bench/run.js';
import { printTable } from '../../bench/harness.js';
import { writeFileSync, mkdirSync } from 'node:fs';
const rt = await initNode({ tuneCache: true }); // tuned choices land in $MEDIVLAD_CACHE_DIR (device.sh: $OUT/cache)
console.log('adapter', rt.adapter.description, rt.adapter.family);
const out = process.env.OUT ?? '/tmp';
mkdirSync(out, { recursive: true });
for (const suite of (process.argv[2] ?? 'matmul,attention,layernorm,softmax').split(',')) {
  try {
    // Tuned (matmul and attention; TUNE=0 to skip): the planned rows then run what wins on this
    // GPU, e.g. the tiled attention v7, which was written without one.
    const rep = await runBench(rt, suite, { repeat: 7, peers: true, tune: process.env.TUNE !== '0' });
    console.log(`\n## ${suite}\n` + printTable(rep.rows));
    writeFileSync(`${out}/${suite}.json`, JSON.stringify(rep, null, 1));
  } catch (e) {
    console.log(`bench ${suite} failed: ${(e as Error).message}`);
  }
}
shutdownNode();
process.exit(0);
