// Where clips come from. A ClipSource lists items (id, patient, labels) and loads one clip at
// a time; the manifest-backed source reads frames through a DataFs, the platform interface
// (src/node/data-io.ts implements it with fs + ffmpeg; a browser can implement it with fetch).
//
// Path rules for a manifest item (relative to the manifest's folder):
//   path column given -> that folder of frames, image file or video file;
//   otherwise         -> a folder named after the id, directly there or in a sub-folder whose
//                        name starts with "frames" (pocus-lus: frames112/<video_id>/).
// A folder's frames are its .png/.jpg/.jpeg files in natural order (f2 before f10).

import { DataError, BadInputLog, type Clip } from './clip.js';
import { parseManifest, type Manifest, type ManifestItem } from './manifest.js';
import { decodePng, isPng, type Image8, type Inflate } from './png.js';
import { resizeGray, toGray } from './resize.js';

/** 8-bit grayscale frames as an external decoder (ffmpeg) returns them. */
export interface GrayFrames {
  width: number;
  height: number;
  frames: Uint8Array[]; // each (height, width)
}

/** The platform interface the loaders need. Paths are opaque strings built with join(). */
export interface DataFs {
  readText(path: string): Promise<string>;
  readBytes(path: string): Promise<Uint8Array>;
  /** 'file', 'dir', or null when nothing is there. */
  kind(path: string): Promise<'file' | 'dir' | null>;
  /** Entry names of a folder (any order). */
  list(dir: string): Promise<string[]>;
  join(...parts: string[]): string;
  dirname(path: string): string;
  /**
   * Decode a JPEG (or other non-PNG image) or a video file to gray frames. Optional: without
   * it such files are errors. Throws an Error whose message says what went wrong.
   */
  decodeMedia?(path: string): Promise<GrayFrames>;
  /** Optional fast zlib inflate for PNG (default: the web-standard DecompressionStream). */
  inflate?: Inflate;
}

/** What every source lists: a manifest item (synthetic sources make their own). */
export type ClipInfo = ManifestItem;

export interface ClipSource {
  readonly items: readonly ClipInfo[];
  /** Load item i at the source's frame size. Throws DataError on bad input. */
  load(index: number): Promise<Clip>;
}

export const IMAGE_EXTS = ['.png', '.jpg', '.jpeg', '.bmp', '.webp'];
export const VIDEO_EXTS = ['.mp4', '.avi', '.gif', '.mov', '.mkv', '.webm', '.mpg', '.mpeg', '.m4v'];

function ext(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const i = base.lastIndexOf('.');
  return i < 0 ? '' : base.slice(i).toLowerCase();
}

/** Natural order: digit runs compare as numbers ("f2" < "f10"). */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

export interface LoadOptions {
  /** Square frame side after resizing (the model size), e.g. 112 or 224. */
  size: number;
}

/** Where an item's data is: a folder of frames or one file. */
async function resolveItemPath(fs: DataFs, dir: string, item: ManifestItem, framesDirs: () => Promise<string[]>,
  file: string): Promise<string> {
  if (item.path !== null) {
    const p = fs.join(dir, item.path);
    if ((await fs.kind(p)) === null) throw new DataError(`missing file or folder ${p}`, file, item.row, item.id);
    return p;
  }
  const cands = [fs.join(dir, item.id), ...(await framesDirs()).map((d) => fs.join(dir, d, item.id))];
  for (const c of cands) if ((await fs.kind(c)) === 'dir') return c;
  throw new DataError(`no path column and no folder named '${item.id}' in ${dir} or its frames*/ folders`,
    file, item.row, item.id);
}

/** Decode one image file to gray floats at native size. */
async function decodeImageFile(fs: DataFs, path: string): Promise<{ w: number; h: number; gray: Float32Array }> {
  const bytes = await fs.readBytes(path);
  if (isPng(bytes)) {
    const img: Image8 = await decodePng(bytes, fs.inflate);
    return { w: img.width, h: img.height, gray: toGray(img) };
  }
  if (ext(path) === '.png') throw new Error(`${path} is not a valid PNG (bad signature)`);
  const media = await decodeWithTool(fs, path);
  if (media.frames.length !== 1) throw new Error(`${path}: expected one image, decoder gave ${media.frames.length} frames`);
  return { w: media.width, h: media.height, gray: bytesToFloat(media.frames[0]) };
}

async function decodeWithTool(fs: DataFs, path: string): Promise<GrayFrames> {
  if (!fs.decodeMedia) throw new Error(`cannot decode ${path}: this platform has no media decoder (only PNG is built in)`);
  return fs.decodeMedia(path);
}

function bytesToFloat(b: Uint8Array): Float32Array {
  const out = new Float32Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b[i] / 255;
  return out;
}

/**
 * Load the frames at `path` (folder of images, image file, video file) as gray [0, 1] frames
 * resized to size x size. Errors are plain Errors; callers wrap them with file and row.
 */
export async function loadFrames(fs: DataFs, path: string, size: number): Promise<Float32Array[]> {
  const k = await fs.kind(path);
  if (k === null) throw new Error(`missing file ${path}`);
  if (k === 'dir') {
    const names = (await fs.list(path)).filter((n) => IMAGE_EXTS.includes(ext(n)) && !n.startsWith('.')).sort(naturalCompare);
    if (names.length === 0) throw new Error(`clip has 0 frames: no ${IMAGE_EXTS.join('/')} files in folder ${path}`);
    const out: Float32Array[] = [];
    for (const n of names) {
      const p = fs.join(path, n);
      let img;
      try {
        img = await decodeImageFile(fs, p);
      } catch (e) {
        throw new Error(`corrupt or unreadable image ${p}: ${(e as Error).message}`);
      }
      out.push(resizeGray(img.gray, img.h, img.w, size, size));
    }
    return out;
  }
  const e = ext(path);
  if (IMAGE_EXTS.includes(e)) {
    let img;
    try {
      img = await decodeImageFile(fs, path);
    } catch (err) {
      throw new Error(`corrupt or unreadable image ${path}: ${(err as Error).message}`);
    }
    return [resizeGray(img.gray, img.h, img.w, size, size)];
  }
  if (VIDEO_EXTS.includes(e)) {
    const media = await decodeWithTool(fs, path);
    if (media.frames.length === 0) throw new Error(`clip has 0 frames: video ${path} decoded to nothing`);
    return media.frames.map((f) => resizeGray(bytesToFloat(f), media.height, media.width, size, size));
  }
  throw new Error(`unknown file type '${e || '(none)'}' for ${path} (images: ${IMAGE_EXTS.join(' ')}; videos: ${VIDEO_EXTS.join(' ')})`);
}

/** A manifest and the frames it points to. */
export class ManifestSource implements ClipSource {
  readonly items: readonly ManifestItem[];
  private framesDirsP: Promise<string[]> | null = null;

  constructor(readonly fs: DataFs, readonly manifest: Manifest, readonly dir: string, readonly opts: LoadOptions) {
    this.items = manifest.items;
  }

  private framesDirs(): Promise<string[]> {
    if (!this.framesDirsP) {
      this.framesDirsP = (async () => {
        const names = (await this.fs.list(this.dir)).filter((n) => n.startsWith('frames')).sort(naturalCompare);
        const dirs: string[] = [];
        for (const n of names) if ((await this.fs.kind(this.fs.join(this.dir, n))) === 'dir') dirs.push(n);
        return dirs;
      })();
    }
    return this.framesDirsP;
  }

  /** The resolved location of item i (folder or file). */
  resolve(index: number): Promise<string> {
    return resolveItemPath(this.fs, this.dir, this.items[index], () => this.framesDirs(), this.manifest.file);
  }

  async load(index: number): Promise<Clip> {
    const it = this.items[index];
    if (it === undefined) throw new RangeError(`item ${index} out of range (${this.items.length})`);
    const path = await this.resolve(index);
    let frames: Float32Array[];
    try {
      frames = await loadFrames(this.fs, path, this.opts.size);
    } catch (e) {
      if (e instanceof DataError) throw e;
      // a missing decoder is the machine's fault, not the row's: fatal even with --skip-bad
      const fatal = (e as Error).name === 'FfmpegMissingError';
      throw new DataError((e as Error).message, this.manifest.file, it.row, it.id, fatal);
    }
    return { id: it.id, patient: it.patient, score: it.score, label: it.label, size: this.opts.size, frames };
  }
}

/** Read and parse a manifest CSV; item paths resolve against its folder. */
export async function openManifest(fs: DataFs, manifestPath: string, opts: LoadOptions & { log?: BadInputLog }): Promise<ManifestSource> {
  if ((await fs.kind(manifestPath)) !== 'file') throw new DataError('missing manifest file', manifestPath);
  const text = await fs.readText(manifestPath);
  const m = parseManifest(text, manifestPath, opts.log);
  return new ManifestSource(fs, m, fs.dirname(manifestPath), opts);
}

/**
 * Open any input: a manifest (.csv), a folder of frames (one clip), a folder of clip folders
 * or files (one unlabelled clip each), an image or a video (one clip). Items without a
 * manifest are unlabelled, with patient = id.
 */
export async function openInput(fs: DataFs, path: string, opts: LoadOptions & { log?: BadInputLog }): Promise<ClipSource> {
  const k = await fs.kind(path);
  if (k === null) throw new DataError('missing file or folder', path);
  if (k === 'file' && ext(path) === '.csv') return openManifest(fs, path, opts);
  const base = (p: string) => p.replace(/\/+$/, '').slice(p.replace(/\/+$/, '').lastIndexOf('/') + 1);
  const single = (id: string, rel: string, dir: string) =>
    new ManifestSource(fs, { file: path, header: [], items: [item(id, rel, 2)] }, dir, opts);
  if (k === 'file') return single(base(path).replace(/\.[^.]*$/, ''), base(path), fs.dirname(path));
  const names = (await fs.list(path)).filter((n) => !n.startsWith('.')).sort(naturalCompare);
  if (names.some((n) => IMAGE_EXTS.includes(ext(n)))) return single(base(path), '.', path);
  const items: ManifestItem[] = [];
  for (const n of names) {
    const p = fs.join(path, n);
    const nk = await fs.kind(p);
    if (nk === 'dir' || VIDEO_EXTS.includes(ext(n)) || IMAGE_EXTS.includes(ext(n)))
      items.push(item(nk === 'dir' ? n : n.replace(/\.[^.]*$/, ''), n, items.length + 2));
  }
  if (items.length === 0) throw new DataError('no frames, clip folders, images or videos in this folder', path);
  return new ManifestSource(fs, { file: path, header: [], items }, path, opts);
}

function item(id: string, path: string, row: number): ManifestItem {
  return { id, patient: id, score: null, label: null, path, row, columns: {} };
}

/**
 * Load every item of a source. With log.skipBad, items that fail become warnings (see
 * log.summary()) and are left out; otherwise the first bad item throws.
 */
export async function loadAll(source: ClipSource, log: BadInputLog = new BadInputLog(false)): Promise<Clip[]> {
  const out: Clip[] = [];
  for (let i = 0; i < source.items.length; i++) {
    try {
      out.push(await source.load(i));
    } catch (e) {
      log.handle(e);
    }
  }
  return out;
}
