// MEDIVLAD_PROFILE=FILE: a per-kernel GPU profile of a whole CLI run (any command), written to
// FILE when the command ends: Markdown, or JSON when FILE ends in .json. With
// MEDIVLAD_PROFILE_SHAPES=1 each kernel is split by launch shape. Uses Runtime.startProfile
// (src/kernels/profiler.ts): every dispatch gets a timestamped pass of its own, which slows a
// run a little, so time runs without it. initNode starts the profile when it creates the
// runtime; the CLI's main() calls finishEnvProfile() before it shuts the runtime down.
import type { Runtime, KernelTime } from '../kernels/runtime.js';
import { writeFileAtomic } from './data-io.js';

let active: { rt: Runtime; file: string; t0: number } | null = null;

/** Start the run's profile if MEDIVLAD_PROFILE names a file (a warning when the adapter cannot). */
export function startEnvProfile(rt: Runtime): void {
  const file = process.env.MEDIVLAD_PROFILE;
  if (!file) return;
  if (!rt.device.features.has('timestamp-query')) {
    console.warn(`medivlad: MEDIVLAD_PROFILE=${file} ignored: the adapter has no 'timestamp-query' feature`);
    return;
  }
  rt.startProfile({ shapes: process.env.MEDIVLAD_PROFILE_SHAPES === '1' });
  active = { rt, file, t0: performance.now() };
}

/** The profile as Markdown: the run, then one line per kernel, slowest first. */
export function profileMarkdown(kernels: KernelTime[], info: { command: string; adapter: string; wallS: number; dropped: number }): string {
  const total = kernels.reduce((s, k) => s + k.ms, 0);
  const n = kernels.reduce((s, k) => s + k.dispatches, 0);
  const rows = kernels.map((k) => `| ${k.kernel} | ${k.dispatches} | ${k.ms.toFixed(1)} | ${((100 * k.ms) / (total || 1)).toFixed(1)}% | ${((1000 * k.ms) / k.dispatches).toFixed(1)} |`);
  return [
    '# medivlad GPU profile',
    '',
    `command: \`${info.command}\``,
    '',
    `adapter: ${info.adapter}; run ${info.wallS.toFixed(1)} s wall; ${n} dispatches, ${(total / 1000).toFixed(1)} s of kernel time${info.dropped ? `; ${info.dropped} dispatches with unusable timestamps left out` : ''}`,
    '',
    '| kernel | dispatches | ms | share | µs per dispatch |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

/** Stop the run's profile, if one is running, and write its file. */
export async function finishEnvProfile(): Promise<void> {
  const a = active;
  active = null;
  if (!a || !a.rt.profiling || a.rt.lost) return;
  const { kernels, dropped } = await a.rt.stopProfile();
  const info = {
    command: ['medivlad', ...process.argv.slice(2)].join(' '),
    adapter: a.rt.adapter.description || a.rt.adapter.family,
    wallS: (performance.now() - a.t0) / 1000,
    dropped,
  };
  const body = a.file.endsWith('.json') ? `${JSON.stringify({ ...info, kernels }, null, 1)}\n` : profileMarkdown(kernels, info);
  await writeFileAtomic(a.file, body);
  console.error(`medivlad: GPU profile of ${kernels.length} kernels written to ${a.file}`);
}
