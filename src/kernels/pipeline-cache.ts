// Compute pipelines, created once per (shader source, entry point, override constants) and cached.
// Shapes are uniforms, so one pipeline serves every shape; tile and workgroup sizes are WGSL
// `override` constants, so each variant is a separate cache entry of the same source.
//
// Creation: `warm()` compiles asynchronously (createComputePipelineAsync) ahead of the first
// step; a cache miss during recording compiles synchronously, inside an error scope whose result
// is checked at the next sync point, so a compile error names the kernel and the shapes.
import { reflectShader, type EntryReflection } from './shader-reflection.js';

export interface Kernel {
  /** Family name, e.g. 'matmul' (the shader file's name). */
  name: string;
  /** WGSL source text. */
  source: string;
  /** Entry point, e.g. 'matmul_v2'. */
  entry: string;
  /** Values for the shader's `override` constants. */
  overrides?: Record<string, number>;
}

export interface CompiledKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  reflection: EntryReflection;
  /** Wall time spent creating it (ms); reported by benchmarks as first-call cost. */
  compileMs: number;
}

/** The override constants as a canonical string (sorted by name). */
function overridesKey(ov: Record<string, number> | undefined): string {
  if (!ov) return '';
  let out = '';
  for (const name of Object.keys(ov).sort()) out += `${name}=${ov[name]};`;
  return out;
}

export class PipelineCache {
  private compiled = new Map<string, CompiledKernel>();
  private modules = new Map<number, GPUShaderModule>();
  /**
   * A small id per distinct shader source. Looked up by the source string itself: V8 keeps a
   * string's hash in the string, so for the module-level source constants the launchers pass
   * this is cheap, where hashing the text on every dispatch (done before 594f905) cost tens of
   * microseconds per dispatch for the larger shaders.
   */
  private sourceIds = new Map<string, number>();

  private keyOf(k: Kernel): string {
    let id = this.sourceIds.get(k.source);
    if (id === undefined) {
      id = this.sourceIds.size;
      this.sourceIds.set(k.source, id);
    }
    return `${id}\u0000${k.name}\u0000${k.entry}\u0000${overridesKey(k.overrides)}`;
  }
  private pending: Promise<string | null>[] = [];
  created = 0;

  constructor(private device: GPUDevice) {}

  private reflect(k: Kernel): EntryReflection {
    const entries = reflectShader(k.name, k.source);
    const r = entries.get(k.entry);
    if (!r) {
      throw new Error(`kernel ${k.name}: shader has no compute entry point '${k.entry}' (has: ${[...entries.keys()].join(', ')})`);
    }
    for (const name of Object.keys(k.overrides ?? {})) {
      if (!r.overrides.includes(name)) {
        throw new Error(`kernel ${k.name}/${k.entry}: override '${name}' is not declared by the shader`);
      }
    }
    return r;
  }

  /** One module per distinct source (keyOf has assigned its id). */
  private module(k: Kernel): GPUShaderModule {
    const key = this.sourceIds.get(k.source)!;
    let m = this.modules.get(key);
    if (!m) {
      m = this.device.createShaderModule({ code: k.source, label: k.name });
      this.modules.set(key, m);
    }
    return m;
  }

  /** Synchronous get-or-create, used while recording. */
  get(k: Kernel, shapes?: string): CompiledKernel {
    const key = this.keyOf(k);
    const hit = this.compiled.get(key);
    if (hit) return hit;
    const reflection = this.reflect(k);
    const t0 = performance.now();
    this.device.pushErrorScope('validation');
    const module = this.module(k);
    const pipeline = this.device.createComputePipeline({
      layout: 'auto',
      compute: { module, entryPoint: k.entry, constants: k.overrides },
      label: `${k.name}/${k.entry}`,
    });
    const what = `kernel ${k.name}/${k.entry}${k.overrides ? ` overrides ${JSON.stringify(k.overrides)}` : ''}${shapes ? ` [${shapes}]` : ''}`;
    this.pending.push(
      this.device.popErrorScope().then(async (err) => {
        if (!err) return null;
        const info = await module.getCompilationInfo();
        const lines = info.messages.map((m) => `  ${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n');
        return `${what}: pipeline creation failed: ${err.message}${lines ? `\n${lines}` : ''}`;
      }),
    );
    const c: CompiledKernel = { pipeline, layout: pipeline.getBindGroupLayout(0), reflection, compileMs: performance.now() - t0 };
    this.compiled.set(key, c);
    this.created++;
    return c;
  }

  /** Asynchronous compile ahead of use; rejects with a message naming the kernel. */
  async warm(k: Kernel): Promise<CompiledKernel> {
    const key = this.keyOf(k);
    const hit = this.compiled.get(key);
    if (hit) return hit;
    const reflection = this.reflect(k);
    const t0 = performance.now();
    const module = this.module(k);
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await this.device.createComputePipelineAsync({
        layout: 'auto',
        compute: { module, entryPoint: k.entry, constants: k.overrides },
        label: `${k.name}/${k.entry}`,
      });
    } catch (e) {
      const info = await module.getCompilationInfo();
      const lines = info.messages.map((m) => `  ${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n');
      throw new Error(`kernel ${k.name}/${k.entry}: pipeline creation failed: ${(e as Error).message}${lines ? `\n${lines}` : ''}`);
    }
    const raced = this.compiled.get(key);
    if (raced) return raced;
    const c: CompiledKernel = { pipeline, layout: pipeline.getBindGroupLayout(0), reflection, compileMs: performance.now() - t0 };
    this.compiled.set(key, c);
    this.created++;
    return c;
  }

  compileMs(k: Kernel): number | undefined {
    return this.compiled.get(this.keyOf(k))?.compileMs;
  }

  takePendingChecks(): Promise<string | null>[] {
    return this.pending.splice(0);
  }
}
