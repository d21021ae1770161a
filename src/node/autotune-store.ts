// The autotuner's disk cache (Node only): the kernel variant chosen per (adapter, kernel, shape
// class), so that `medivlad bench --tune` pays for the timing once per machine and later runs
// (and other commands) start with the tuned choice. src/kernels/autotune.ts stays
// browser-safe: it takes this store by injection, and in the browser keeps choices in memory.
//
// Where: $MEDIVLAD_CACHE_DIR, else $XDG_CACHE_HOME/medivlad, else ~/.cache/medivlad; one file
// per adapter, autotune-<hash>.json, the hash taken over the adapter's vendor, architecture,
// device and description (not the driver we found it by: the same silicon, the same choice).
// File: { "format": "medivlad-autotune", "version": 1, "adapter": {...}, "entries": {key: choice} }.
//
// Never a crash: a missing file is an empty cache; a corrupt one (bad JSON, wrong format, another
// adapter's file, non-string choices) is ignored with a warning and replaced at the next save.
// Saves are atomic (src/node/files.ts writeFileAtomic) and merge what another process may have
// written since we loaded (our entries win).
import { createHash } from 'node:crypto';
import { readFile, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AdapterSummary } from '../kernels/adapter-info.js';
import type { TuneStore } from '../kernels/autotune.js';
import { writeFileAtomic } from './files.js';

const FORMAT = 'medivlad-autotune';
const VERSION = 1;

type AdapterId = Pick<AdapterSummary, 'vendor' | 'architecture' | 'device' | 'description'>;

/** The cache directory: $MEDIVLAD_CACHE_DIR, $XDG_CACHE_HOME/medivlad, or ~/.cache/medivlad. */
export function tuneCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.MEDIVLAD_CACHE_DIR) return env.MEDIVLAD_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'medivlad');
  return join(homedir(), '.cache', 'medivlad');
}

function adapterId(a: AdapterId): AdapterId {
  return { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description };
}

/** <dir>/autotune-<16 hex digits of sha256(adapter id)>.json */
export function tuneCachePath(adapter: AdapterId, dir = tuneCacheDir()): string {
  const h = createHash('sha256').update(JSON.stringify(adapterId(adapter))).digest('hex').slice(0, 16);
  return join(dir, `autotune-${h}.json`);
}

export interface NodeTuneStoreOptions {
  /** Directory of the cache files (default tuneCacheDir()). */
  dir?: string;
  /** Where a corrupt or unreadable cache is reported (default: stderr). */
  warn?: (msg: string) => void;
}

/** Parse a cache file's text; null (and a warning) when it is not a valid cache of this adapter. */
function parse(text: string, path: string, adapter: AdapterId, warn: (m: string) => void): Record<string, string> | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    warn(`autotune cache ${path}: not valid JSON (${(e as Error).message}); ignoring it, it will be rewritten`);
    return null;
  }
  const d = doc as { format?: unknown; version?: unknown; adapter?: unknown; entries?: unknown };
  if (typeof doc !== 'object' || doc === null || d.format !== FORMAT || d.version !== VERSION) {
    warn(`autotune cache ${path}: not a ${FORMAT} v${VERSION} file; ignoring it, it will be rewritten`);
    return null;
  }
  if (JSON.stringify(d.adapter) !== JSON.stringify(adapterId(adapter))) {
    warn(`autotune cache ${path}: written for another adapter (${JSON.stringify(d.adapter)}); ignoring it`);
    return null;
  }
  if (typeof d.entries !== 'object' || d.entries === null || Array.isArray(d.entries)) {
    warn(`autotune cache ${path}: "entries" is not an object; ignoring it, it will be rewritten`);
    return null;
  }
  const out: Record<string, string> = {};
  let bad = 0;
  for (const [k, v] of Object.entries(d.entries)) {
    if (typeof v === 'string' && v.length > 0) out[k] = v;
    else bad++;
  }
  if (bad) warn(`autotune cache ${path}: ignoring ${bad} entr${bad === 1 ? 'y' : 'ies'} whose choice is not a string`);
  return out;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return null;
    throw e;
  }
}

/** A TuneStore backed by one JSON file per adapter (see the header). */
export function nodeTuneStore(adapter: AdapterId, opts: NodeTuneStoreOptions = {}): TuneStore & { path: string } {
  const dir = opts.dir ?? tuneCacheDir();
  const path = tuneCachePath(adapter, dir);
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  const readEntries = async (warn: (m: string) => void): Promise<Record<string, string> | undefined> => {
    let text: string | null;
    try {
      text = await readText(path);
    } catch (e) {
      warn(`autotune cache ${path}: cannot read it (${(e as Error).message}); ignoring it`);
      return undefined;
    }
    if (text === null) return undefined;
    return parse(text, path, adapter, warn) ?? undefined;
  };
  return {
    path,
    load: () => readEntries(warn),
    async save(entries: Record<string, string>): Promise<void> {
      // A corrupt file was reported when it was loaded: replace it quietly.
      const merged = { ...((await readEntries(() => undefined)) ?? {}), ...entries };
      const doc = { format: FORMAT, version: VERSION, adapter: adapterId(adapter), entries: merged };
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(path, new TextEncoder().encode(`${JSON.stringify(doc, null, 1)}\n`));
    },
  };
}
