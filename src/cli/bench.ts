// `medivlad bench <suite> [--json] [--driver D] [--repeat N] [--filter RE] [--save] [--tune]
//  [--no-robustness]`: kernel benchmarks with tfjs-webgpu on the same adapter, in the same run.
// stdout carries the result (a table, or exactly one JSON object with --json); progress goes to
// stderr. See bench/README.md for how to read the numbers.
import type { CommandModule } from 'yargs';
import { initNode } from '../node/index.js';
import { runBench, saveReport, suiteNames } from '../../bench/run.js';
import { printTable } from '../../bench/harness.js';

interface BenchArgs {
  suite: string;
  json: boolean;
  driver?: string;
  repeat: number;
  filter?: string;
  save: boolean;
  tune: boolean;
  robustness: boolean;
  'spin-wait': boolean;
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench [suite]',
  describe: 'Benchmark kernels (matmul, softmax, layernorm, all) against tfjs-webgpu on the same adapter',
  builder: (y) =>
    y
      .positional('suite', { type: 'string', default: 'all', describe: `which benchmark: ${suiteNames().join(', ')} or all` })
      .option('json', { type: 'boolean', default: false, describe: 'print exactly one JSON object on stdout' })
      .option('driver', {
        type: 'string',
        choices: ['auto', 'system', 'lavapipe', 'swiftshader'],
        describe: 'Vulkan driver (default: $MEDIVLAD_DRIVER, else auto: system, then lavapipe, then SwiftShader)',
      })
      .option('repeat', { type: 'number', default: 7, describe: 'timed samples per row (the median is reported)' })
      .option('filter', { type: 'string', describe: 'only rows whose "<kernel> <shape>" matches this regular expression' })
      .option('spin-wait', { type: 'boolean', default: false, describe: "let Dawn spin the JS thread while waiting for the GPU (the runtime's default on software adapters is to sleep first)" })
      .option('save', { type: 'boolean', default: false, describe: 'write bench/results/<adapter>-<suite>.json and .md' })
      .option('tune', { type: 'boolean', default: false, describe: 'autotune each matmul shape before timing it' })
      .option('robustness', {
        type: 'boolean',
        default: true,
        describe: "Dawn's bounds-checking of shader memory accesses; --no-robustness sets the disable_robustness toggle (trusted kernels only; also applies to the peer)",
      }) as never,
  handler: async (args) => {
    if (!Number.isInteger(args.repeat) || args.repeat < 1) throw new Error(`bench: --repeat must be a positive integer, got ${args.repeat}`);
    let filter: RegExp | undefined;
    if (args.filter) {
      try {
        filter = new RegExp(args.filter);
      } catch (e) {
        throw new Error(`bench: --filter is not a regular expression: ${(e as Error).message}`);
      }
    }
    const dawnFlags = args.robustness ? [] : ['enable-dawn-features=disable_robustness'];
    const rt = await initNode({ driver: args.driver as 'auto' | undefined, dawnFlags });
    if (args['spin-wait']) rt.sleepBeforeWait = false;
    const report = await runBench(rt, args.suite, { repeat: args.repeat, filter, tune: args.tune });
    if (!args.robustness) report.rows.forEach((r) => (r.robustness = false));
    if (args.save) {
      const path = saveReport(report, args.suite, 'bench/results', args.robustness ? '' : '-norobust');
      process.stderr.write(`saved ${path}\n`);
    }
    if (args.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      return;
    }
    const a = report.adapter;
    process.stdout.write(
      `adapter: ${a.description || a.family} (${a.family}, ${a.driver})${args.robustness ? '' : ', robustness off'}; commit ${report.commit}\n` +
        `${printTable(report.rows)}\n`,
    );
  },
};
