// Checkpoint checks shared by every reader: the error type, matching a loaded state dict
// against the model's expected names and shapes (all problems reported at once, like
// PyTorch's load_state_dict(strict=True) but with shapes), and key prefix remapping for
// wrapped checkpoints (DDP's `module.`, DINO's `backbone.` / `teacher.`, SPEC.md §8–9).
//
// Platform-neutral: no Node built-ins (src/node/files.ts does the file I/O).

/** Anything wrong with a checkpoint file or its contents. Names the file and tensor when known. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  /** The file, when the reader was told it. */
  readonly file?: string;
  /** The tensor the problem is about, when there is one. */
  readonly tensor?: string;
  /** The problem alone, without the file / tensor prefix of `message`. */
  readonly problem: string;

  constructor(problem: string, where: { file?: string; tensor?: string } = {}, options?: { cause?: unknown }) {
    let prefix = '';
    if (where.file !== undefined) prefix += `checkpoint ${where.file}: `;
    if (where.tensor !== undefined) prefix += `tensor ${quoteName(where.tensor)}: `;
    super(prefix + problem, options);
    this.file = where.file;
    this.tensor = where.tensor;
    this.problem = problem;
  }
}

/** Quote a tensor name for a message; names come from untrusted files, so long ones are cut. */
export function quoteName(name: string, max = 200): string {
  const shown = name.length > max ? `${name.slice(0, max)}…(${name.length} chars)` : name;
  return JSON.stringify(shown);
}

export function formatShape(shape: readonly number[]): string {
  return `(${shape.join(',')})`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** loadStateDict's error: the message lists everything; the fields carry the same lists. */
export class StateDictMismatchError extends CheckpointError {
  constructor(
    problem: string,
    file: string | undefined,
    readonly missing: readonly string[],
    readonly unexpected: readonly string[],
    /** "name expected (…) found (…)" per mis-shaped tensor. */
    readonly wrongShape: readonly string[],
  ) {
    super(problem, { file });
    // "checkpoint run/ckpt.safetensors does not match the model: …" reads better than the
    // generic "checkpoint <file>: <problem>".
    this.message = `checkpoint${file !== undefined ? ` ${file}` : ''} ${problem}`;
  }
}

export interface StateDictEntry {
  shape: readonly number[];
  data: Float32Array;
}

export interface LoadStateDictOptions {
  /** Named in the error message. */
  file?: string;
  /** Unexpected tensors are an error (PyTorch's default). Default true. */
  strict?: boolean;
}

/** At most this many names per category in the message; the rest are counted. */
const MAX_LISTED = 12;

function listNames(names: string[]): string {
  const shown = names.slice(0, MAX_LISTED).map((n) => quoteName(n, 120).slice(1, -1));
  const more = names.length > MAX_LISTED ? ` … and ${names.length - MAX_LISTED} more` : '';
  return shown.join(', ') + more;
}

/**
 * A prefix hint for the common failure where every key is off by a wrapper prefix: when the
 * unexpected names are the missing names with a prefix (`module.blocks.0…` vs `blocks.0…`),
 * or the other way round, say which prefix to strip or add with remapKeys.
 */
function prefixHint(missing: string[], unexpected: string[]): string {
  if (missing.length === 0 || unexpected.length === 0) return '';
  const count = (from: string[], into: Set<string>): Map<string, number> => {
    const c = new Map<string, number>();
    for (const k of from) {
      // Only split at dots: a prefix is whole path components.
      for (let i = k.indexOf('.'); i >= 0 && i < k.length - 1; i = k.indexOf('.', i + 1)) {
        if (into.has(k.slice(i + 1))) {
          const p = k.slice(0, i + 1);
          c.set(p, (c.get(p) ?? 0) + 1);
        }
      }
    }
    return c;
  };
  const best = (c: Map<string, number>): [string, number] | null => {
    let top: [string, number] | null = null;
    for (const e of c) if (top === null || e[1] > top[1]) top = e;
    return top;
  };
  const strip = best(count(unexpected, new Set(missing)));
  const add = best(count(missing, new Set(unexpected)));
  if (strip !== null && (add === null || strip[1] >= add[1])) {
    return `; hint: ${strip[1]} checkpoint names are model names prefixed with ${quoteName(strip[0])}: remapKeys(…, { stripPrefixes: [${quoteName(strip[0])}] })`;
  }
  if (add !== null) {
    return `; hint: ${add[1]} model names are checkpoint names prefixed with ${quoteName(add[0])}: remapKeys(…, { stripPrefixes: [], addPrefix: ${quoteName(add[0])} })`;
  }
  return '';
}

/**
 * Match `found` (from a checkpoint) against `expected` (the model's names and shapes). Returns
 * the data for every expected name. Throws one CheckpointError listing every problem:
 * missing names, unexpected names (when strict), and wrong shapes with both shapes, e.g.
 * "checkpoint run/ckpt.safetensors does not match the model: missing: blocks.0.attn.qkv.weight;
 * wrong shape: pos_embed expected (1,785,384) found (1,65,384)".
 */
export function loadStateDict(
  expected: ReadonlyMap<string, readonly number[]>,
  found: ReadonlyMap<string, StateDictEntry>,
  opts: LoadStateDictOptions = {},
): Map<string, Float32Array> {
  const strict = opts.strict ?? true;
  const missing: string[] = [];
  const wrongShape: string[] = [];
  const badData: string[] = [];
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of expected) {
    const f = found.get(name);
    if (f === undefined) {
      missing.push(name);
      continue;
    }
    if (!sameShape(shape, f.shape)) {
      wrongShape.push(`${quoteName(name, 120).slice(1, -1)} expected ${formatShape(shape)} found ${formatShape(f.shape)}`);
      continue;
    }
    if (!(f.data instanceof Float32Array) || f.data.length !== numelOf(shape)) {
      const len = f.data instanceof Float32Array ? `${f.data.length} values` : 'no Float32Array';
      badData.push(`${quoteName(name, 120).slice(1, -1)} shape ${formatShape(shape)} but ${len}`);
      continue;
    }
    out.set(name, f.data);
  }
  const unexpected: string[] = [];
  for (const name of found.keys()) if (!expected.has(name)) unexpected.push(name);

  const parts: string[] = [];
  if (missing.length > 0) parts.push(`missing: ${listNames(missing)}`);
  if (strict && unexpected.length > 0) parts.push(`unexpected: ${listNames(unexpected)}`);
  if (wrongShape.length > 0) {
    const more = wrongShape.length > MAX_LISTED ? ` … and ${wrongShape.length - MAX_LISTED} more` : '';
    parts.push(`wrong shape: ${wrongShape.slice(0, MAX_LISTED).join(', ')}${more}`);
  }
  if (badData.length > 0) parts.push(`wrong data length: ${badData.slice(0, MAX_LISTED).join(', ')}`);
  if (parts.length > 0) {
    const problem = `does not match the model: ${parts.join('; ')}${prefixHint(missing, unexpected)}`;
    throw new StateDictMismatchError(problem, opts.file, missing, strict ? unexpected : [], wrongShape);
  }
  return out;
}

export interface RemapOptions {
  /**
   * Leading prefixes to remove, applied repeatedly in any order until none matches, so
   * `module.backbone.blocks.0…` with ['module.', 'backbone.'] becomes `blocks.0…`.
   */
  stripPrefixes: readonly string[];
  /** Prefix added to every name after stripping (e.g. '0.' for SPEC §8's Sequential). */
  addPrefix?: string;
  /** Named in the collision error. */
  file?: string;
}

/**
 * Rename keys by stripping and adding prefixes. Values are shared, not copied. Two keys that
 * end up with the same name are an error (naming both), never a silent overwrite.
 */
export function remapKeys<T>(map: ReadonlyMap<string, T>, opts: RemapOptions): Map<string, T> {
  const prefixes = opts.stripPrefixes.filter((p) => p.length > 0);
  const add = opts.addPrefix ?? '';
  const out = new Map<string, T>();
  const origin = new Map<string, string>();
  for (const [key, value] of map) {
    let k = key;
    for (let changed = true; changed; ) {
      changed = false;
      for (const p of prefixes) {
        if (k.startsWith(p)) {
          k = k.slice(p.length);
          changed = true;
        }
      }
    }
    k = add + k;
    const prev = origin.get(k);
    if (prev !== undefined) {
      throw new CheckpointError(
        `keys ${quoteName(prev)} and ${quoteName(key)} both become ${quoteName(k)} after remapping`,
        { file: opts.file },
      );
    }
    origin.set(k, key);
    out.set(k, value);
  }
  return out;
}
