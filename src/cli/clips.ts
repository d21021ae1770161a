// The clip loader every CLI command shares: 'synthetic' renders the built-in data set, anything
// else is a manifest CSV or a folder of clips read at the model's size. Bad rows are errors
// unless --skip-bad turns them into warnings (summarised on stderr).

import { nodeDataFs } from '../node/data-io.js';
import { synthDataset } from '../data/synth.js';
import { openInput, loadAll } from '../data/source.js';
import { BadInputLog, type Clip } from '../data/clip.js';

export interface ClipLoadOptions {
  /** Synthetic data only: number of clips, frames per clip, data-set seed. */
  videos: number;
  frames: number;
  seed: number;
  skipBad: boolean;
  /** The command's name, for the errors. */
  command: string;
  /** 'labelled': at least one clip must carry a label (supervised stages); 'any': one clip at all. */
  need: 'labelled' | 'any';
}

export async function loadClips(data: string, size: number, o: ClipLoadOptions): Promise<Clip[]> {
  if (data === 'synthetic') return synthDataset({ videos: o.videos, frames: o.frames, size, seed: o.seed });
  const log = new BadInputLog(o.skipBad);
  const clips = await loadAll(await openInput(nodeDataFs, data, { size, log }), log);
  const summary = log.summary();
  if (summary) process.stderr.write(`${summary}\n`);
  if (o.need === 'labelled' && !clips.some((c) => c.label !== null)) {
    throw new Error(`${o.command}: no labelled clips in ${data} (a manifest with a label column is needed)`);
  }
  if (clips.length === 0) throw new Error(`${o.command}: no usable clips in ${data}`);
  return clips;
}
