// `medivlad bench <suite|group> [--json] [--save] [--peers] [--driver D] [--repeat N]
//  [--filter RE] [--tune] [--no-robustness] [--no-timestamps] [--spin-wait] [--profile]`: kernel and model
// benchmarks, the adapter's measured peak first; with --peers, tfjs-webgpu on the same adapter
// and PyTorch CPU on the same machine, in the same run.
// `medivlad bench compare A.json B.json [--json]`: two saved reports row by row (no GPU).
// stdout carries the result (a table, or exactly one JSON object with --json); progress goes to
// stderr. See bench/README.md for how to read the numbers.
import type { CommandModule } from 'yargs';
import { initNode } from '../node/index.js';
import { runBench, saveReport, suiteNames, resolveSuites, reportHeader, GROUPS } from '../../bench/run.js';
import { printProfiles, printTable } from '../../bench/harness.js';
import type { SoakOpts } from '../../bench/soak.js';
import { setGpuTimestamps, setProfile } from '../../bench/measure.js';
import { compareMarkdown, compareReports, loadReport } from '../../bench/compare.js';

interface BenchArgs {
  suite: string;
  files?: string[];
  json: boolean;
  driver?: string;
  repeat: number;
  filter?: string;
  save: boolean;
  peers: boolean;
  tune: boolean;
  robustness: boolean;
  timestamps: boolean;
  'spin-wait': boolean;
  profile: boolean;
  'profile-shapes': boolean;
  steps?: number;
}

function compare(args: BenchArgs): void {
  const files = args.files ?? [];
  if (files.length !== 2) throw new Error(`bench compare: needs two report files (A.json B.json), got ${files.length}`);
  const c = compareReports(loadReport(files[0]), loadReport(files[1]), [files[0], files[1]]);
  process.stdout.write(args.json ? `${JSON.stringify(c)}\n` : compareMarkdown(c));
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench [suite] [files..]',
  describe: 'Benchmark kernels and models (peak-relative, optional peers), or compare two saved reports',
  builder: (y) =>
    y
      .positional('suite', {
        type: 'string',
        default: 'all',
        describe: `a suite (${suiteNames().join(', ')}), a group (${Object.keys(GROUPS).join(', ')}), or compare`,
      })
      .positional('files', { type: 'string', array: true, describe: 'compare: the two report files, before and after' })
      .option('json', { type: 'boolean', default: false, describe: 'print exactly one JSON object on stdout' })
      .option('driver', {
        type: 'string',
        choices: ['auto', 'system', 'lavapipe', 'swiftshader'],
        describe: 'Vulkan driver (default: $MEDIVLAD_DRIVER, else auto: system, then lavapipe, then SwiftShader)',
      })
      .option('repeat', { type: 'number', default: 7, describe: 'timed samples per row (the median is reported)' })
      .option('filter', { type: 'string', describe: 'only rows whose "<kernel> <shape>" matches this regular expression' })
      .option('peers', { type: 'boolean', default: false, describe: 'also time tfjs-webgpu (same adapter) and PyTorch CPU (model rows); slow on CPU adapters' })
      .option('timestamps', { type: 'boolean', default: true, describe: "GPU timestamps where the adapter has 'timestamp-query' (--no-timestamps: wall clock)" })
      .option('spin-wait', { type: 'boolean', default: false, describe: "let Dawn spin the JS thread while waiting for the GPU (the runtime's default on software adapters is to sleep first)" })
      .option('profile', {
        type: 'boolean',
        default: false,
        describe: "after each row's timed samples, one more sample with every dispatch timestamped: GPU time per kernel (needs 'timestamp-query')",
      })
      .option('profile-shapes', { type: 'boolean', default: false, describe: 'as --profile, one line per kernel and launch shape' })
      .option('steps', { type: 'number', describe: 'soak only: DINO training steps (default 1000)' })
      .option('save', { type: 'boolean', default: false, describe: 'write bench/results/<adapter>-<suite>.json and .md (one pair per suite)' })
      .option('tune', { type: 'boolean', default: false, describe: 'autotune each matmul and attention shape before timing it (choices cached in $MEDIVLAD_CACHE_DIR or ~/.cache/medivlad, and used by every command)' })
      .option('robustness', {
        type: 'boolean',
        default: true,
        describe: "Dawn's bounds-checking of shader memory accesses; --no-robustness sets the disable_robustness toggle (trusted kernels only; also applies to the peer)",
      }) as never,
  handler: async (args) => {
    if (args.suite === 'compare') return compare(args);
    if (args.files?.length) throw new Error(`bench: unexpected argument(s) ${args.files.join(' ')} (only compare takes files)`);
    resolveSuites(args.suite); // unknown names fail before the GPU is started
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
    // Tuned kernel choices persist per adapter (src/node/autotune-store.ts).
    const rt = await initNode({ driver: args.driver as 'auto' | undefined, dawnFlags, tuneCache: true });
    if (args['spin-wait']) rt.sleepBeforeWait = false;
    if (!args.timestamps) setGpuTimestamps(rt, false);
    if (args.profile || args['profile-shapes']) {
      if (!rt.device.features.has('timestamp-query')) throw new Error(`bench --profile: the adapter (${rt.adapter.description || rt.adapter.family}) has no 'timestamp-query' feature, so per-kernel GPU times cannot be measured`);
      setProfile(rt, { shapes: args['profile-shapes'] });
    }
    const soak: SoakOpts = { steps: args.steps, save: args.save }; // read by bench/soak.ts only
    const report = await runBench(rt, args.suite, { repeat: args.repeat, filter, tune: args.tune, peers: args.peers, ...soak });
    if (!args.robustness) report.rows.forEach((r) => (r.robustness = false));
    if (args.save) {
      for (const path of await saveReport(report, 'bench/results', args.robustness ? '' : '-norobust')) process.stderr.write(`saved ${path}\n`);
    }
    if (args.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      return;
    }
    const a = report.adapter;
    const profiles = printProfiles(report.rows);
    process.stdout.write(
      `adapter: ${a.description || a.family} (${a.family}, ${a.driver})${args.robustness ? '' : ', robustness off'}\n` +
        `${reportHeader(report).join('\n')}\n\n${printTable(report.rows)}\n${profiles ? `\n${profiles}` : ''}`,
    );
  },
};
