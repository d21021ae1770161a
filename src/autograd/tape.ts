// Reverse-mode autograd, micrograd-style: every differentiable op records a Node with its
// inputs (edges), the tensors it saved for backward, and its backward rule written right
// beside the forward launch (see ops/*.ts).
//
// Lifetimes without a garbage collector:
//   - A Node is referenced by the tensors it produced and by the Nodes downstream of it.
//     When both are gone (refs = 0) it frees its saved tensors and drops its own edges.
//   - backward() consumes the graph (retain_graph = False): each Node frees what it saved
//     right after its rule has run, so activations go back to the pool as early as possible.
//   - Gradients of leaves (parameters) accumulate into `leaf.grad` (+=), which the leaf owns.
// The walk is iterative (no recursion limit on deep graphs).
import { Tensor } from './tensor.js';
import { keep, scope } from './scope.js';
import { contiguous } from './view-ops.js';

export interface Edge {
  /** The Node that produced this input, if it was computed with grad. */
  node: Node | null;
  /** The input itself when it is a leaf that wants a gradient (a parameter). */
  leaf: Tensor | null;
}

/**
 * Returns one gradient per input (null where none flows, e.g. constants or indices).
 * `needs[i]` says whether input i wants a gradient, so rules can skip work.
 */
export type BackwardFn = (gradOut: Tensor, needs: boolean[]) => (Tensor | null)[];

export class Node {
  refs = 0;
  private released = false;
  constructor(
    readonly op: string,
    readonly edges: Edge[],
    readonly saved: Tensor[],
    readonly backward: BackwardFn,
    readonly outShape: readonly number[],
  ) {
    for (const e of edges) if (e.node) e.node.refs++;
    for (const s of saved) keep(s);
  }

  /** Free saved tensors and release upstream nodes (idempotent). */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const s of this.saved) s.dispose();
    this.saved.length = 0;
    for (const e of this.edges) if (e.node) e.node.unref();
  }

  unref(): void {
    if (--this.refs <= 0) this.release();
  }

  get isReleased(): boolean {
    return this.released;
  }
}

// ------------------------------------------------------------------ grad mode

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn without recording (evaluation, EMA updates, optimizer steps). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

const nodeOf = new WeakMap<Tensor, Node>();

export function gradNode(t: Tensor): Node | null {
  return nodeOf.get(t) ?? null;
}

/** Whether an op on these inputs must be recorded. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  return inputs.some((t) => t && (t.requiresGrad || nodeOf.has(t)));
}

/**
 * Record `out = op(inputs)`. `saved` are tensors the backward rule reads (they become owned by
 * the node: pass views you created for it, not tensors the caller still owns).
 */
export function record(op: string, inputs: (Tensor | null)[], out: Tensor, saved: Tensor[], backward: BackwardFn): Tensor {
  const edges: Edge[] = inputs.map((t) => {
    if (!t) return { node: null, leaf: null };
    const n = nodeOf.get(t) ?? null;
    return { node: n, leaf: !n && t.requiresGrad ? t : null };
  });
  const node = new Node(op, edges, saved, backward, out.shape);
  node.refs++;
  nodeOf.set(out, node);
  out.requiresGrad = true;
  out.onDispose = () => node.unref();
  return out;
}

/** Detach: a new view on the same data with no history. */
export function detach(t: Tensor): Tensor {
  const v = t.view();
  v.requiresGrad = false;
  return v;
}

type AddFn = (a: Tensor, b: Tensor) => Tensor;
type OnesFn = (shape: readonly number[]) => Tensor;
type AccumulateFn = (dst: Tensor, g: Tensor) => void;
let addImpl: AddFn | null = null;
let onesImpl: OnesFn | null = null;
let accumulateImpl: AccumulateFn | null = null;

/** Set by ops/ at import time (breaks the tape <-> ops import cycle). */
export function setTapeKernels(add: AddFn, ones: OnesFn, accumulate: AccumulateFn): void {
  addImpl = add;
  onesImpl = ones;
  accumulateImpl = accumulate;
}

/**
 * Backpropagate from `root` (a scalar unless `gradRoot` is given). Leaves' `.grad` receive
 * (accumulate) their gradients; the graph is consumed.
 */
export function backward(root: Tensor, gradRoot?: Tensor): void {
  if (!addImpl || !onesImpl) throw new Error('backward: autograd ops are not loaded (import src/autograd/ops)');
  const add = addImpl;
  const ones = onesImpl;
  const rootNode = nodeOf.get(root);
  if (!rootNode) throw new Error(`backward: ${root} does not require grad (no recorded history)`);
  if (!gradRoot && root.size !== 1) throw new Error(`backward: ${root} is not a scalar; pass the gradient of the output`);
  if (rootNode.isReleased) throw new Error(`backward: the graph of ${root} was already consumed by an earlier backward()`);

  // Topological order by iterative DFS (post-order), then reverse.
  const order: Node[] = [];
  const state = new Map<Node, number>(); // 1 = visiting, 2 = done
  const stack: [Node, number][] = [[rootNode, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [n, i] = top;
    if (i === 0) state.set(n, 1);
    if (i < n.edges.length) {
      top[1]++;
      const child = n.edges[i].node;
      if (child && !state.has(child) && !child.isReleased) stack.push([child, 0]);
      continue;
    }
    state.set(n, 2);
    order.push(n);
    stack.pop();
  }
  order.reverse();
  // Pin every node of the walk: releasing a node drops its edges' references, and a child
  // must not free its saved tensors before its own rule has run.
  for (const n of order) n.refs++;

  scope(() => {
    const grads = new Map<Node, Tensor>();
    grads.set(rootNode, gradRoot ? gradRoot.view() : ones(root.shape));
    for (const n of order) {
      const g = grads.get(n);
      grads.delete(n);
      if (!g) {
        n.release();
        n.unref();
        continue;
      }
      const inGrads = n.backward(g, n.edges.map((e) => e.node !== null || e.leaf !== null));
      if (inGrads.length !== n.edges.length) {
        throw new Error(`backward: rule of '${n.op}' returned ${inGrads.length} gradients for ${n.edges.length} inputs`);
      }
      g.dispose();
      for (let i = 0; i < n.edges.length; i++) {
        const gi = inGrads[i];
        const e = n.edges[i];
        if (!gi) continue;
        if (e.node && !e.node.isReleased) {
          const prev = grads.get(e.node);
          if (prev) {
            grads.set(e.node, add(prev, gi));
            prev.dispose();
            gi.dispose();
          } else grads.set(e.node, gi);
        } else if (e.leaf) {
          accumulateLeaf(e.leaf, gi);
        } else gi.dispose();
      }
      n.release();
      n.unref();
    }
    for (const g of grads.values()) g.dispose();
  });
}

// Gradients accumulate in place (leaf.grad += g), so a leaf whose .grad is a view into a flat
// gradient buffer (see src/models/parameters.ts) keeps that view: the optimizer then reads all
// gradients in one dispatch.
function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (g.shape.length !== leaf.shape.length || g.shape.some((d, i) => d !== leaf.shape[i])) {
    throw new Error(`backward: gradient ${g} does not match the shape of leaf ${leaf}`);
  }
  if (leaf.grad) {
    if (!accumulateImpl) throw new Error('backward: autograd ops are not loaded');
    accumulateImpl(leaf.grad, g);
    g.dispose();
  } else {
    leaf.grad = keep(contiguous(g));
    if (leaf.grad !== g) g.dispose();
  }
}
