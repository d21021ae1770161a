// The data types every loader produces and every consumer (training, evaluation, demo) takes.
// A frame is one grayscale image, Float32Array of H*W values in [0, 1], row-major.
// A clip is a list of frames at one square size with its labels.

/** One labelled (or unlabelled) video or still image, decoded and resized. */
export interface Clip {
  id: string;
  patient: string;
  /** LUS score 0..3 when known (synthetic data, expert scores), else null. */
  score: number | null;
  /** 3-class severity: LUS 0 -> 0, 1-2 -> 1, 3 -> 2; null = unlabelled (self-supervised use only). */
  label: number | null;
  /** Square frame side in pixels; every frame has size*size values. */
  size: number;
  /** Frames in time order, grayscale in [0, 1]. A still image is a clip of one frame. */
  frames: Float32Array[];
}

/** Number of severity classes after merging (SPEC §2). */
export const NUM_CLASSES = 3;

/** LUS score (0..3) to the 3-class label: 0 -> 0, 1 and 2 -> 1, 3 -> 2 (SPEC §2: c > 1 -> c - 1). */
export function scoreToClass(score: number): number {
  if (!Number.isInteger(score) || score < 0 || score > 3) throw new RangeError(`LUS score must be 0..3, got ${score}`);
  return score > 1 ? score - 1 : score;
}

/**
 * A bad input: names the file and, when it came from a manifest, the row (1-based line
 * number in the CSV, header = line 1) and the item id.
 */
export class DataError extends Error {
  override name = 'DataError';
  constructor(
    message: string,
    readonly file: string,
    readonly row: number | null = null,
    readonly id: string | null = null,
    /** Not a bad row but a broken setup (e.g. no ffmpeg): never skipped by --skip-bad. */
    readonly fatal = false,
  ) {
    super(`${file}${row !== null ? ` row ${row}` : ''}${id !== null ? ` (id ${id})` : ''}: ${message}`);
  }
}

/** Collects the rows a tolerant (--skip-bad) load turned into warnings. */
export class BadInputLog {
  readonly warnings: string[] = [];
  constructor(readonly skipBad: boolean) {}

  /** Throw the error, or record it and return when skipping bad rows. */
  handle(e: unknown): void {
    if (!this.skipBad || !(e instanceof DataError) || e.fatal) throw e;
    this.warnings.push(e.message);
  }

  /** One line for the end of a run: "skipped 3 bad items" (empty when none). */
  summary(): string {
    const n = this.warnings.length;
    return n === 0 ? '' : `skipped ${n} bad item${n === 1 ? '' : 's'} (--skip-bad)`;
  }
}
