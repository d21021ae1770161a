// Contact sheets: a grid of frames so a person can see what a data set looks like.
// Row = a group (a score, a class), each clip shows a few frames evenly spread over time,
// a label at the left drawn with a built-in 5x7 pixel font.

import type { Clip } from './clip.js';
import type { Image8 } from './png.js';
import { evalIndices } from './preprocess.js';
import { resizeGray } from './resize.js';

export interface SheetRow {
  label: string;
  clips: Clip[];
}

export interface SheetOptions {
  /** Frames shown per clip, spread with floor(linspace). Default 3. */
  framesPerClip?: number;
  /** Tile side in pixels (frames are resized). Default: the clips' size. */
  tile?: number;
  /** Gap between clips (pixels); frames of one clip touch. Default 6. */
  gap?: number;
  /** Label font scale (1 = 5x7 pixels per glyph). Default 2. */
  fontScale?: number;
}

const BG = 48; // background gray, lighter than the black outside the fan
const FG = 235;

/** Compose a contact sheet as an 8-bit gray image. */
export function contactSheet(rows: readonly SheetRow[], opts: SheetOptions = {}): Image8 {
  const F = opts.framesPerClip ?? 3;
  const tile = opts.tile ?? rows.find((r) => r.clips.length > 0)?.clips[0].size ?? 64;
  const gap = opts.gap ?? 6;
  const fs = opts.fontScale ?? 2;
  const labelW = Math.max(...rows.map((r) => textWidth(r.label) * fs)) + 2 * gap;
  const maxClips = Math.max(1, ...rows.map((r) => r.clips.length));
  const width = labelW + maxClips * (F * tile + gap);
  const height = gap + rows.length * (tile + gap);
  const data = new Uint8Array(width * height).fill(BG);
  rows.forEach((row, ri) => {
    const y0 = gap + ri * (tile + gap);
    drawText(data, width, gap, y0 + ((tile - 7 * fs) >> 1), row.label, fs);
    row.clips.forEach((clip, ci) => {
      const idx = evalIndices(clip.frames.length, Math.min(F, clip.frames.length));
      idx.forEach((t, fi) => {
        const f = clip.size === tile ? clip.frames[t] : resizeGray(clip.frames[t], clip.size, clip.size, tile, tile);
        const x0 = labelW + ci * (F * tile + gap) + fi * tile;
        for (let y = 0; y < tile; y++)
          for (let x = 0; x < tile; x++) {
            const v = Math.round(f[y * tile + x] * 255);
            data[(y0 + y) * width + x0 + x] = v < 0 ? 0 : v > 255 ? 255 : v;
          }
      });
    });
  });
  return { width, height, channels: 1, data };
}

// 5x7 glyphs, 7 rows of 5 pixels ('#' = on). Unknown characters are blank.
const GLYPHS: Record<string, string[]> = {
  '0': ['.###.', '#...#', '#..##', '#.#.#', '##..#', '#...#', '.###.'],
  '1': ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  '2': ['.###.', '#...#', '....#', '...#.', '..#..', '.#...', '#####'],
  '3': ['#####', '...#.', '..#..', '...#.', '....#', '#...#', '.###.'],
  '4': ['...#.', '..##.', '.#.#.', '#..#.', '#####', '...#.', '...#.'],
  '5': ['#####', '#....', '####.', '....#', '....#', '#...#', '.###.'],
  '6': ['..##.', '.#...', '#....', '####.', '#...#', '#...#', '.###.'],
  '7': ['#####', '....#', '...#.', '..#..', '.#...', '.#...', '.#...'],
  '8': ['.###.', '#...#', '#...#', '.###.', '#...#', '#...#', '.###.'],
  '9': ['.###.', '#...#', '#...#', '.####', '....#', '...#.', '.##..'],
  A: ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  C: ['.###.', '#...#', '#....', '#....', '#....', '#...#', '.###.'],
  E: ['#####', '#....', '#....', '####.', '#....', '#....', '#####'],
  H: ['#...#', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  I: ['.###.', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  N: ['#...#', '##..#', '#.#.#', '#..##', '#...#', '#...#', '#...#'],
  O: ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  P: ['####.', '#...#', '#...#', '####.', '#....', '#....', '#....'],
  R: ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'],
  S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
  T: ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '..#..'],
  U: ['#...#', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  X: ['#...#', '#...#', '.#.#.', '..#..', '.#.#.', '#...#', '#...#'],
  Y: ['#...#', '#...#', '.#.#.', '..#..', '..#..', '..#..', '..#..'],
  '-': ['.....', '.....', '.....', '#####', '.....', '.....', '.....'],
  ':': ['.....', '..#..', '.....', '.....', '.....', '..#..', '.....'],
  '(': ['...#.', '..#..', '.#...', '.#...', '.#...', '..#..', '...#.'],
  ')': ['.#...', '..#..', '...#.', '...#.', '...#.', '..#..', '.#...'],
  '/': ['....#', '....#', '...#.', '..#..', '.#...', '#....', '#....'],
  '=': ['.....', '.....', '#####', '.....', '#####', '.....', '.....'],
};

function textWidth(s: string): number {
  return s.length * 6;
}

function drawText(data: Uint8Array, width: number, x0: number, y0: number, s: string, scale: number): void {
  const up = s.toUpperCase();
  for (let i = 0; i < up.length; i++) {
    const g = GLYPHS[up[i]];
    if (!g) continue;
    for (let r = 0; r < 7; r++)
      for (let c = 0; c < 5; c++) {
        if (g[r][c] !== '#') continue;
        for (let dy = 0; dy < scale; dy++)
          for (let dx = 0; dx < scale; dx++) data[(y0 + r * scale + dy) * width + x0 + (i * 6 + c) * scale + dx] = FG;
      }
  }
}
