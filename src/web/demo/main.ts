// The demo page (web/demo/index.html): pick a clip (built-in synthetic, or the user's frames /
// video), pick a checkpoint (the committed demo checkpoint when there is one, a file, a URL;
// else random weights, said so), score it, and show the probabilities, β per frame, the
// filmstrip with the critical frame, and its CLS attention heatmap; plus the adapter and a
// kernel micro-benchmark. Imports only the library's public API (`../index.js` becomes
// `../medivlad.mjs`, the shipped bundle). body[data-state] is loading | ready | busy | scored |
// error, and #result carries the numbers shown as data attributes (read by the browser test).
import * as M from '../index.js';
import { decodeFiles } from './decode.js';
import { drawBeta, drawFilmstrip, drawHeatmap } from './draw.js';

const CLASS_NAMES = ['LUS 0 (normal)', 'LUS 1–2 (B-lines)', 'LUS 3 (consolidation)'];
/** Side of the clip the page keeps for display; the pipeline resizes it to the model's size. */
const DISPLAY = 160;
const DEMO_CHECKPOINT = 'demo.safetensors';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo page: element #${id} is missing`);
  return el as T;
};

let rt: M.Runtime | null = null;
let model: M.ScoringModel | null = null;
let clip: { clip: M.GrayClip; name: string } | null = null;
let busy = false;
/** Controls disabled while an action runs (and, for the buttons, until there is a GPU). */
const CONTROLS = ['score', 'bench-run', 'builtin', 'files', 'ckpt-file', 'ckpt-url-load'];

type PageState = 'loading' | 'ready' | 'busy' | 'scored' | 'error';

function setState(s: PageState): void {
  document.body.dataset.state = s;
}

function showError(e: unknown): void {
  $('error').textContent = e instanceof Error ? e.message : String(e);
  setState('error');
}

/**
 * Run one action at a time with the controls disabled; errors land in #error. The page state
 * the action returns (default 'ready') is set last, once the controls are usable again.
 */
async function exclusive(fn: () => Promise<PageState | void>): Promise<void> {
  if (busy) return;
  busy = true;
  for (const id of CONTROLS) ($(id) as HTMLButtonElement).disabled = true;
  $('error').textContent = '';
  setState('busy');
  let end: PageState | null = null;
  try {
    end = (await fn()) ?? 'ready';
  } catch (e) {
    showError(e);
  } finally {
    busy = false;
    for (const id of CONTROLS) ($(id) as HTMLButtonElement).disabled = !rt;
  }
  if (end) setState(end);
}

// ------------------------------------------------------------ adapter

function showAdapter(a: M.AdapterSummary): void {
  const has = (f: string) => (a.features.includes(f) ? 'yes' : 'no');
  const rows: [string, string][] = [
    ['vendor', a.vendor || '–'],
    ['architecture', a.architecture || '–'],
    ['description', a.description || '–'],
    ['kind', a.isSoftware ? `software (${a.family})` : 'GPU'],
    ['subgroups', has('subgroups')],
    ['shader-f16', has('shader-f16')],
    ['timestamp-query', has('timestamp-query')],
    ['max binding', `${(a.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`],
    ['workgroup memory', `${(a.limits.maxComputeWorkgroupStorageSize / 1024).toFixed(0)} KiB`],
  ];
  const dl = $('adapter');
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
  ($('bench-shapes') as HTMLSelectElement).value = a.isSoftware ? 'tiny' : 'vit-s8';
}

// ------------------------------------------------------------ model and clip

function setModel(m: M.ScoringModel): void {
  model?.dispose();
  model = m;
  $('model-status').textContent = m.describe();
  $('model-status').dataset.source = m.info.source;
  $('untrained-note').hidden = m.info.trained.backbone && m.info.trained.head;
}

/** The committed demo checkpoint if the build found one (assets.json), else random weights. */
async function defaultModel(): Promise<M.ScoringModel> {
  const res = await fetch('assets.json');
  const assets = res.ok ? ((await res.json()) as { assets: string[] }).assets : [];
  if (assets.includes(DEMO_CHECKPOINT)) return M.loadCheckpoint(`assets/${DEMO_CHECKPOINT}`, { name: DEMO_CHECKPOINT });
  return M.createRandomModel({ seed: 0 });
}

function setClip(c: M.GrayClip, name: string): void {
  clip = { clip: c, name };
  $('clip-status').textContent = `${name}: ${c.frames.length} frames`;
}

function builtinClip(score: number): void {
  const c = M.syntheticClip(score, { size: DISPLAY, frames: 15 });
  setClip(c, `synthetic ${c.id} (LUS ${score})`);
}

async function userClip(files: File[]): Promise<void> {
  const { frames, what } = await decodeFiles(files);
  setClip(M.grayClip(frames, DISPLAY), what);
}

// ------------------------------------------------------------ scoring

function showResult(r: M.ScoreResult, c: M.GrayClip): void {
  $('predicted').textContent = `${CLASS_NAMES[r.predicted] ?? `class ${r.predicted}`}  (${(100 * r.probs[r.predicted]).toFixed(1)}%)`;
  const probs = $('probs');
  probs.replaceChildren();
  r.probs.forEach((p, k) => {
    const row = document.createElement('div');
    row.className = k === r.predicted ? 'prob top' : 'prob';
    const name = document.createElement('span');
    name.textContent = CLASS_NAMES[k] ?? `class ${k}`;
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = `${(100 * p).toFixed(1)}%`;
    const val = document.createElement('span');
    val.textContent = p.toFixed(3);
    row.append(name, document.createElement('div'), val);
    row.children[1].append(bar);
    probs.append(row);
  });
  const sampled = r.indices.map((t) => c.frames[t]);
  drawBeta($('beta-chart') as HTMLCanvasElement, r.beta ?? r.indices.map(() => 1 / r.indices.length), r.critical);
  drawFilmstrip($('filmstrip') as HTMLCanvasElement, sampled, c.size, r.critical);
  drawHeatmap($('heatmap') as HTMLCanvasElement, c.frames[r.attentionFrame], c.size, r.attention);
  $('timing').textContent = `ViT + ${model!.kind} ${r.ms.embedAndScore.toFixed(0)} ms, attention ${r.ms.attention.toFixed(0)} ms`;
  const d = $('result').dataset;
  d.probs = JSON.stringify(r.probs);
  d.logits = JSON.stringify(r.logits);
  d.beta = JSON.stringify(r.beta);
  d.critical = String(r.critical);
  d.attentionFrame = String(r.attentionFrame);
}

async function score(): Promise<PageState> {
  if (!model || !clip) throw new Error('no model or no clip yet');
  const c = clip.clip;
  const r = await M.scoreClip(model, c);
  showResult(r, c);
  return 'scored';
}

// ------------------------------------------------------------ benchmark

async function bench(): Promise<void> {
  const shapes = ($('bench-shapes') as HTMLSelectElement).value === 'vit-s8' ? M.VIT_S8_SHAPES : M.TINY_SHAPES;
  const body = $('bench').querySelector('tbody')!;
  body.replaceChildren();
  $('bench').dataset.state = 'running';
  const rows = [await M.benchMatmul(rt!, shapes.matmul), await M.benchAttention(rt!, shapes.attention)];
  for (const r of rows) {
    const tr = document.createElement('tr');
    for (const v of [r.kernel, r.shape, r.ms.toFixed(2), r.gflops.toFixed(2)]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    body.append(tr);
  }
  $('bench').dataset.state = 'done';
  $('bench').dataset.gflops = JSON.stringify(rows.map((r) => r.gflops));
}

// ------------------------------------------------------------ wiring

function wire(): void {
  $('score').addEventListener('click', () => exclusive(score));
  $('bench-run').addEventListener('click', () => exclusive(bench));
  $('builtin').addEventListener('change', (e) => exclusive(async () => {
    builtinClip(Number((e.target as HTMLSelectElement).value));
    return score();
  }));
  const files = $('files') as HTMLInputElement;
  files.addEventListener('change', () => exclusive(async () => {
    await userClip(Array.from(files.files ?? []));
    return score();
  }));
  // Files dropped anywhere on the page (not only on the zone) are the user's clip.
  const zone = $('dropzone');
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  document.addEventListener('dragleave', () => zone.classList.remove('over'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const list = Array.from(e.dataTransfer?.files ?? []);
    if (list.length) {
      exclusive(async () => {
        await userClip(list);
        return score();
      });
    }
  });
  const ckpt = $('ckpt-file') as HTMLInputElement;
  ckpt.addEventListener('change', () => exclusive(async () => {
    const f = ckpt.files?.[0];
    if (!f) return;
    setModel(await M.loadCheckpoint(await f.arrayBuffer(), { name: f.name }));
    return score();
  }));
  $('ckpt-url-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const url = ($('ckpt-url') as HTMLInputElement).value.trim();
    exclusive(async () => {
      if (!url) throw new Error('enter a checkpoint URL first');
      setModel(await M.loadCheckpoint(url));
      return score();
    });
  });
}

async function main(): Promise<void> {
  wire();
  try {
    rt = await M.initWeb();
  } catch (e) {
    $('adapter').replaceChildren(Object.assign(document.createElement('dd'), { textContent: 'no WebGPU adapter' }));
    $('model-status').textContent = 'not loaded (no WebGPU)';
    showError(e);
    return;
  }
  showAdapter(rt.adapter);
  await exclusive(async () => {
    setModel(await defaultModel());
    builtinClip(Number(($('builtin') as HTMLSelectElement).value));
    return score();
  });
}

void main();
