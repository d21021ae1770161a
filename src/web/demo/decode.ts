// The user's own clip: image files (one frame each, in natural name order) or one video file,
// decoded by the browser itself (createImageBitmap; a <video> element seeked frame by frame,
// so any codec the browser plays works). Frames are drawn at most MAX_SIDE pixels on a side
// (the model sees 64–224 px) and handed on as RGBA.
import type { RgbaFrame } from '../index.js';

const MAX_SIDE = 256;
/** Frames taken from a video: its length at 15 fps (the paper's rate), at most this many. */
const MAX_VIDEO_FRAMES = 60;

function draw(src: CanvasImageSource, w: number, h: number): RgbaFrame {
  const s = Math.min(1, MAX_SIDE / Math.max(w, h));
  const cw = Math.max(1, Math.round(w * s));
  const ch = Math.max(1, Math.round(h * s));
  const c = document.createElement('canvas');
  c.width = cw;
  c.height = ch;
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(src, 0, 0, cw, ch);
  const img = ctx.getImageData(0, 0, cw, ch);
  return { width: cw, height: ch, data: img.data };
}

const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

export async function decodeImages(files: readonly File[]): Promise<RgbaFrame[]> {
  const sorted = [...files].sort((a, b) => natural.compare(a.name, b.name));
  const out: RgbaFrame[] = [];
  for (const f of sorted) {
    let bmp: ImageBitmap;
    try {
      bmp = await createImageBitmap(f);
    } catch (e) {
      throw new Error(`cannot decode image ${f.name}: ${(e as Error).message}`);
    }
    out.push(draw(bmp, bmp.width, bmp.height));
    bmp.close();
  }
  return out;
}

function once(el: HTMLElement, event: string, name: string): Promise<void> {
  return new Promise((ok, ko) => {
    const done = () => {
      el.removeEventListener(event, done);
      el.removeEventListener('error', fail);
      ok();
    };
    const fail = () => {
      el.removeEventListener(event, done);
      el.removeEventListener('error', fail);
      const err = (el as HTMLVideoElement).error;
      ko(new Error(`cannot decode video ${name}: ${err?.message || `media error ${err?.code ?? '?'}`} (this browser may not play its codec)`));
    };
    el.addEventListener(event, done);
    el.addEventListener('error', fail);
  });
}

export async function decodeVideo(file: File): Promise<RgbaFrame[]> {
  const v = document.createElement('video');
  v.muted = true;
  v.playsInline = true;
  v.preload = 'auto';
  const url = URL.createObjectURL(file);
  try {
    const loaded = once(v, 'loadeddata', file.name);
    v.src = url;
    await loaded;
    const duration = Number.isFinite(v.duration) && v.duration > 0 ? v.duration : 1;
    const n = Math.max(1, Math.min(MAX_VIDEO_FRAMES, Math.round(duration * 15)));
    const out: RgbaFrame[] = [];
    for (let i = 0; i < n; i++) {
      const seeked = once(v, 'seeked', file.name);
      v.currentTime = ((i + 0.5) * duration) / n;
      await seeked;
      out.push(draw(v, v.videoWidth, v.videoHeight));
    }
    return out;
  } finally {
    v.removeAttribute('src');
    v.load();
    URL.revokeObjectURL(url);
  }
}

/** Images and/or one video from a drop or a file picker. */
export async function decodeFiles(files: readonly File[]): Promise<{ frames: RgbaFrame[]; what: string }> {
  if (files.length === 0) throw new Error('no files given');
  const videos = files.filter((f) => f.type.startsWith('video/') || /\.(mp4|webm|ogv|mov|avi|mkv)$/i.test(f.name));
  if (videos.length > 1) throw new Error(`drop one video at a time (got ${videos.length})`);
  if (videos.length === 1) {
    if (files.length > 1) throw new Error('drop either one video or image frames, not both');
    return { frames: await decodeVideo(videos[0]), what: videos[0].name };
  }
  const frames = await decodeImages(files);
  const names = files.map((f) => f.name).sort(natural.compare);
  return { frames, what: names.length === 1 ? names[0] : `${names[0]} … ${names[names.length - 1]}` };
}
