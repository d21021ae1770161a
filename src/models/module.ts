// Module / Parameter, PyTorch-style: a tree of modules with named parameters whose dotted
// names (`blocks.0.attn.qkv.weight`) are the checkpoint keys. Modules declare parameter
// shapes and initialisers; a ParameterStore (parameters.ts) then lays every parameter out in
// flat buffers, so the optimizer, clipping and the teacher EMA are one dispatch each.
import type { Tensor } from '../autograd/tensor.js';

/** Host-side initialiser: fills `out` (row-major, the parameter's shape) from `rand` in [0, 1). */
export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'const'; value: number }
  | { kind: 'uniform'; lo: number; hi: number }
  | { kind: 'normal'; std: number; mean?: number }
  /** PyTorch trunc_normal_(std, a, b): normal(0, std) resampled inside [a, b] (absolute bounds). */
  | { kind: 'truncNormal'; std: number; a?: number; b?: number }
  | { kind: 'fn'; fill: (out: Float32Array, rand: () => number) => void };

export class Parameter {
  /** The live view into the store's flat buffer; set when a ParameterStore materialises it. */
  tensor: Tensor | null = null;
  constructor(
    readonly shape: readonly number[],
    readonly init: Init,
    /** Weight decay group: PyTorch/DINO decay tensors with ndim > 1, not biases and norms. */
    readonly decay: boolean = shape.length > 1,
    /** Trainable parameters get gradients and optimizer state. */
    public trainable = true,
  ) {}

  get t(): Tensor {
    if (!this.tensor) throw new Error('Parameter used before a ParameterStore materialised it');
    return this.tensor;
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

export class Module {
  private readonly _params = new Map<string, Parameter>();
  private readonly _children = new Map<string, Module>();
  training = true;

  protected param(name: string, shape: readonly number[], init: Init, opts: { decay?: boolean; trainable?: boolean } = {}): Parameter {
    if (this._params.has(name) || this._children.has(name)) throw new Error(`${this.constructor.name}: duplicate member '${name}'`);
    const p = new Parameter([...shape], init, opts.decay ?? shape.length > 1, opts.trainable ?? true);
    this._params.set(name, p);
    return p;
  }

  protected child<M extends Module>(name: string, m: M): M {
    if (this._params.has(name) || this._children.has(name)) throw new Error(`${this.constructor.name}: duplicate member '${name}'`);
    this._children.set(name, m);
    return m;
  }

  /** All parameters with dotted names, in registration order (depth first). */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [n, p] of this._params) out.push([prefix + n, p]);
    for (const [n, c] of this._children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, c] of this._children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  numParameters(trainableOnly = false): number {
    return this.namedParameters().reduce((a, [, p]) => a + (!trainableOnly || p.trainable ? p.size : 0), 0);
  }
}

/** Children named 0, 1, 2, ... (PyTorch's nn.ModuleList: `blocks.0.attn...`). */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.child(String(i), m));
  }
}
