import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, writeFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { openManifest, openInput, loadAll, loadFrames } from '../../src/data/source';
import { BadInputLog, DataError } from '../../src/data/clip';
import { encodePng } from '../../src/data/png';
import { synthSpecs, synthClip } from '../../src/data/synth';
import { nodeDataFs, decodeWithFfmpeg, FfmpegMissingError, writeDirAtomic, writeFileAtomic } from '../../src/node/data-io';
import { runSynth } from '../../src/cli/synth';
import { HAVE_FFMPEG, ffmpeg, tempDir } from './helpers';

const fs = nodeDataFs;
let root = '';
let cleanup = () => {};

/** A 16x12 gray PNG whose pixels are `v` except a gradient in the first row. */
async function grayPng(file: string, v: number, w = 16, h = 12): Promise<void> {
  const data = new Uint8Array(w * h).fill(v);
  for (let x = 0; x < w; x++) data[x] = (x * 16) & 0xff;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, await encodePng({ width: w, height: h, channels: 1, data }));
}

beforeAll(async () => {
  ({ dir: root, cleanup } = tempDir('loaders'));
  // a folder of frames named so that natural order matters: f1, f2, f10
  for (const [name, v] of [['f1.png', 10], ['f2.png', 20], ['f10.png', 100]] as const) await grayPng(path.join(root, 'clipA', name), v);
  await grayPng(path.join(root, 'still.png'), 200);
  if (HAVE_FFMPEG) {
    ffmpeg(['-i', path.join(root, 'still.png'), '-q:v', '2', path.join(root, 'still.jpg')]);
    mkdirSync(path.join(root, 'clipJ'));
    ffmpeg(['-i', path.join(root, 'still.png'), '-q:v', '2', path.join(root, 'clipJ', 'f0.jpg')]);
    // 12 frames of a moving bar, as lossless (ffv1/avi), mpeg4 (mp4), gif and mjpeg (mov)
    mkdirSync(path.join(root, 'bar'));
    for (let t = 0; t < 12; t++) {
      const data = new Uint8Array(32 * 32).fill(30);
      for (let y = 0; y < 32; y++) for (let x = 2 * t; x < 2 * t + 6; x++) data[y * 32 + x] = 220;
      writeFileSync(path.join(root, 'bar', `f${String(t).padStart(2, '0')}.png`), await encodePng({ width: 32, height: 32, channels: 1, data }));
    }
    const src = ['-framerate', '10', '-i', path.join(root, 'bar', 'f%02d.png')];
    ffmpeg([...src, '-c:v', 'ffv1', path.join(root, 'bar.avi')]);
    ffmpeg([...src, '-c:v', 'mpeg4', '-q:v', '2', path.join(root, 'bar.mp4')]);
    ffmpeg([...src, path.join(root, 'bar.gif')]);
    ffmpeg([...src, '-c:v', 'mjpeg', '-q:v', '2', path.join(root, 'bar.mov')]);
  }
});
afterAll(() => cleanup());

describe('loaders', () => {
  it('a folder of PNG frames is one clip, frames in natural order, resized to the model size', async () => {
    const frames = await loadFrames(fs, path.join(root, 'clipA'), 8);
    expect(frames).toHaveLength(3);
    // bottom-left pixel keeps the constant body value (the gradient is only in row 0)
    expect(frames.map((f) => Math.round(f[7 * 8] * 255))).toEqual([10, 20, 100]);
    const src = await openInput(fs, path.join(root, 'clipA'), { size: 8 });
    expect(src.items.map((i) => [i.id, i.patient, i.label])).toEqual([['clipA', 'clipA', null]]);
    expect((await src.load(0)).frames).toHaveLength(3);
  });

  it('a single PNG image is a clip of one frame', async () => {
    const src = await openInput(fs, path.join(root, 'still.png'), { size: 12 });
    const clip = await src.load(0);
    expect(clip.id).toBe('still');
    expect(clip.frames).toHaveLength(1);
    expect(Math.round(clip.frames[0][11 * 12 + 5] * 255)).toBe(200);
  });

  it.skipIf(!HAVE_FFMPEG)('JPEG images and JPEG frame folders decode through ffmpeg', async () => {
    const [jpg] = await loadFrames(fs, path.join(root, 'still.jpg'), 12);
    expect(Math.abs(jpg[11 * 12 + 5] * 255 - 200)).toBeLessThan(4);
    const folder = await loadFrames(fs, path.join(root, 'clipJ'), 12);
    expect(folder).toHaveLength(1);
  });

  it.skipIf(!HAVE_FFMPEG)('videos (avi, mp4, gif, mov) decode through ffmpeg to every frame', async () => {
    for (const name of ['bar.avi', 'bar.mp4', 'bar.gif', 'bar.mov']) {
      const frames = await loadFrames(fs, path.join(root, name), 32);
      expect(frames, name).toHaveLength(12);
      // the bright bar sits at x = 2t .. 2t+5 in frame t; check the column mean at its centre
      for (const t of [0, 5, 11]) {
        const col = (x: number) => { let s = 0; for (let y = 0; y < 32; y++) s += frames[t][y * 32 + x]; return (s / 32) * 255; };
        expect(col(2 * t + 3), `${name} frame ${t}`).toBeGreaterThan(180);
        expect(col((2 * t + 16) % 32), `${name} frame ${t}`).toBeLessThan(70);
      }
    }
    // lossless video round-trips exactly
    const avi = await decodeWithFfmpeg(path.join(root, 'bar.avi'));
    expect([avi.width, avi.height, avi.frames.length]).toEqual([32, 32, 12]);
    expect(avi.frames[3][7]).toBe(220);
    expect(avi.frames[3][0]).toBe(30);
  });

  it('a folder of clip folders and videos lists one unlabelled item each (a folder with images is one clip)', async () => {
    const coll = path.join(root, 'collection');
    await grayPng(path.join(coll, 'c2', 'f0.png'), 5);
    await grayPng(path.join(coll, 'c10', 'f0.png'), 6);
    writeFileSync(path.join(coll, 'clip.mp4'), '');
    writeFileSync(path.join(coll, 'readme.txt'), 'ignored');
    const src = await openInput(fs, coll, { size: 8 });
    expect(src.items.map((i) => [i.id, i.patient, i.label, i.path])).toEqual([
      ['c2', 'c2', null, 'c2'], ['c10', 'c10', null, 'c10'], ['clip', 'clip', null, 'clip.mp4'],
    ]);
    expect(Math.round((await src.load(1)).frames[0][60] * 255)).toBe(6);
  });

  it('without ffmpeg a video fails with an error that names ffmpeg and the file', async () => {
    const old = process.env.MEDIVLAD_FFMPEG;
    process.env.MEDIVLAD_FFMPEG = '/nonexistent/ffmpeg';
    try {
      const err = await decodeWithFfmpeg(path.join(root, 'bar.mp4')).catch((e) => e);
      expect(err).toBeInstanceOf(FfmpegMissingError);
      expect(String(err.message)).toMatch(/ffmpeg is not installed.*bar\.mp4/);
      // through a manifest: names file and row, and --skip-bad does not swallow it
      writeFileSync(path.join(root, 'video-manifest.csv'), 'id,patient,label,path\nbar,p,0,bar.mp4\n');
      const log = new BadInputLog(true);
      const src = await openManifest(fs, path.join(root, 'video-manifest.csv'), { size: 8, log });
      await expect(loadAll(src, log)).rejects.toThrow(/video-manifest\.csv row 2 \(id bar\): ffmpeg is not installed/);
    } finally {
      if (old === undefined) delete process.env.MEDIVLAD_FFMPEG;
      else process.env.MEDIVLAD_FFMPEG = old;
    }
  });
});

describe('synth command and manifest round trip', () => {
  it('writes PNG frames + manifest.csv that load back as the in-memory clips (8-bit rounding)', async () => {
    const out = path.join(root, 'synth');
    const r = await runSynth({ out, videos: 6, frames: 4, size: 48, seed: 2 });
    expect(r.clips).toBe(6);
    expect(r.files).toBe(6 * 4 + 1);
    expect(existsSync(`${out}.tmp-${process.pid}`)).toBe(false);
    expect(readdirSync(path.join(out, 'frames'))).toHaveLength(6);
    expect(readFileSync(path.join(out, 'manifest.csv'), 'utf8').split('\n')[0]).toBe('id,patient,label,lus_score,path,severity3_basis,probe,media_type,n_frames');
    const src = await openManifest(fs, path.join(out, 'manifest.csv'), { size: 48 });
    const specs = synthSpecs({ videos: 6, seed: 2 });
    expect(src.items.map((i) => [i.id, i.patient, i.score, i.label])).toEqual(specs.map((s) => [s.id, s.patient, s.score, [0, 1, 1, 2][s.score]]));
    const clips = await loadAll(src);
    for (let i = 0; i < 6; i++) {
      const mem = synthClip(specs[i], 4, 48);
      expect(clips[i].frames).toHaveLength(4);
      let maxErr = 0;
      for (let t = 0; t < 4; t++) for (let p = 0; p < 48 * 48; p++) maxErr = Math.max(maxErr, Math.abs(clips[i].frames[t][p] - mem.frames[t][p]));
      expect(maxErr).toBeLessThanOrEqual(0.5 / 255 + 1e-6);
    }
  });

  it('refuses to overwrite an existing folder without force, and replaces it with force', async () => {
    const out = path.join(root, 'synth-twice');
    await runSynth({ out, videos: 2, frames: 2, size: 32, seed: 1 });
    await expect(runSynth({ out, videos: 3, frames: 2, size: 32, seed: 1 })).rejects.toThrow(/already exists/);
    expect(readdirSync(path.join(out, 'frames'))).toHaveLength(2);
    await runSynth({ out, videos: 3, frames: 2, size: 32, seed: 1, force: true });
    expect(readdirSync(path.join(out, 'frames'))).toHaveLength(3);
  });

  it('leaves nothing behind when writing fails half-way (atomic folder and file writes)', async () => {
    const out = path.join(root, 'half');
    await expect(writeDirAtomic(out, async (tmp) => {
      writeFileSync(path.join(tmp, 'a.png'), 'x');
      throw new Error('disk full');
    })).rejects.toThrow(/disk full/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.tmp-${process.pid}`)).toBe(false);
    const f = path.join(root, 'sheet.png');
    await writeFileAtomic(f, 'abc');
    expect(readFileSync(f, 'utf8')).toBe('abc');
    expect(readdirSync(root).filter((n) => n.startsWith('sheet.png.tmp'))).toEqual([]);
  });

  it('writes a contact sheet PNG with rows for scores 0..3', async () => {
    const f = path.join(root, 'preview.png');
    const r = await runSynth({ preview: f, size: 32, frames: 3, previewClips: 2, previewFrames: 2 });
    expect(r.preview).toBe(f);
    const { decodePng } = await import('../../src/data/png');
    const img = await decodePng(new Uint8Array(readFileSync(f)));
    expect(img.height).toBe(6 + 4 * (32 + 6)); // gap + 4 rows of (tile + gap)
  });
});

describe('bad input', () => {
  let bad = '';
  beforeAll(async () => {
    bad = path.join(root, 'bad');
    mkdirSync(path.join(bad, 'frames', 'empty'), { recursive: true });
    await grayPng(path.join(bad, 'frames', 'good', 'f0.png'), 50);
    mkdirSync(path.join(bad, 'frames', 'corrupt'), { recursive: true });
    writeFileSync(path.join(bad, 'frames', 'corrupt', 'f0.png'), 'this is not a png');
    writeFileSync(path.join(bad, 'broken.mp4'), 'not a video either');
    await grayPng(path.join(bad, 'frames', 'trunc', 'f0.png'), 60);
    const tr = readFileSync(path.join(bad, 'frames', 'trunc', 'f0.png'));
    writeFileSync(path.join(bad, 'frames', 'trunc', 'f0.png'), tr.subarray(0, tr.length - 30));
    writeFileSync(path.join(bad, 'manifest.csv'), [
      'id,patient,label,path',
      'good,p1,0,frames/good',
      'missing,p1,1,frames/nothing-here',
      'corrupt,p2,1,frames/corrupt',
      'trunc,p2,1,frames/trunc',
      'empty,p3,2,frames/empty',
      'video,p3,2,broken.mp4',
      'weird,p4,0,notes.txt',
    ].join('\n') + '\n');
    writeFileSync(path.join(bad, 'notes.txt'), 'hello');
  });

  const cases: [number, RegExp][] = [
    [1, /manifest\.csv row 3 \(id missing\): missing file or folder .*nothing-here/],
    [2, /row 4 \(id corrupt\): corrupt or unreadable image .*corrupt\/f0\.png.*signature/],
    [3, /row 5 \(id trunc\): corrupt or unreadable image .*trunc\/f0\.png/],
    [4, /row 6 \(id empty\): clip has 0 frames.*empty/],
    [6, /row 8 \(id weird\): unknown file type '\.txt'/],
  ];
  for (const [i, re] of cases)
    it(`item ${i}: ${re.source.slice(0, 40)}...`, async () => {
      const src = await openManifest(fs, path.join(bad, 'manifest.csv'), { size: 8 });
      const err = await src.load(i).catch((e) => e);
      expect(err).toBeInstanceOf(DataError);
      expect(err.message).toMatch(re);
      expect(err.row).toBe(i + 2);
    });

  it.skipIf(!HAVE_FFMPEG)('an unreadable video names the file, the row and ffmpeg', async () => {
    const src = await openManifest(fs, path.join(bad, 'manifest.csv'), { size: 8 });
    const err = await src.load(5).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/row 7 \(id video\): ffmpeg could not decode .*broken\.mp4/);
  });

  it('a missing manifest is a clear error', async () => {
    await expect(openManifest(fs, path.join(bad, 'nope.csv'), { size: 8 })).rejects.toThrow(/nope\.csv: missing manifest file/);
  });

  it('--skip-bad loads the good rows and counts the bad ones', async () => {
    const log = new BadInputLog(true);
    const src = await openManifest(fs, path.join(bad, 'manifest.csv'), { size: 8, log });
    const clips = await loadAll(src, log);
    expect(clips.map((c) => c.id)).toEqual(['good']);
    expect(log.warnings).toHaveLength(6);
    expect(log.summary()).toBe('skipped 6 bad items (--skip-bad)');
    // without skip-bad the first bad row throws
    await expect(loadAll(src)).rejects.toThrow(/row 3 \(id missing\)/);
  });
});
