// Differentiable arithmetic with broadcasting. Forward: one elementwise launch. Backward: the
// rule right below each forward; a broadcast input's gradient is summed back to its shape.
import { Tensor, shapeStr } from '../tensor.js';
import { binary, unary, sumTo } from '../../kernels/elementwise.js';
import { needsGrad, record } from '../tape.js';

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The gradient of an input of shape `shape` from a gradient of the broadcast output. */
export function reduceGrad(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g.view();
  return sumTo(g, shape);
}

export function add(a: Tensor, b: Tensor): Tensor {
  const y = binary('add', a, b);
  if (!needsGrad(a, b)) return y;
  return record('add', [a, b], y, [], (g, needs) => [
    needs[0] ? reduceGrad(g, a.shape) : null,
    needs[1] ? reduceGrad(g, b.shape) : null,
  ]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  const y = binary('sub', a, b);
  if (!needsGrad(a, b)) return y;
  return record('sub', [a, b], y, [], (g, needs) => {
    let gb: Tensor | null = null;
    if (needs[1]) {
      const r = reduceGrad(g, b.shape);
      gb = unary('neg', r);
      r.dispose();
    }
    return [needs[0] ? reduceGrad(g, a.shape) : null, gb];
  });
}

export function mul(a: Tensor, b: Tensor): Tensor {
  const y = binary('mul', a, b);
  if (!needsGrad(a, b)) return y;
  const sa = a.view();
  const sb = b.view();
  return record('mul', [a, b], y, [sa, sb], (g, needs) => {
    const out: (Tensor | null)[] = [null, null];
    if (needs[0]) {
      const t = binary('mul', g, sb);
      out[0] = reduceGrad(t, a.shape);
      t.dispose();
    }
    if (needs[1]) {
      const t = binary('mul', g, sa);
      out[1] = reduceGrad(t, b.shape);
      t.dispose();
    }
    return out;
  });
}

export function div(a: Tensor, b: Tensor): Tensor {
  const y = binary('div', a, b);
  if (!needsGrad(a, b)) return y;
  const sb = b.view();
  const sy = y.view();
  // d(a/b)/da = 1/b ; d(a/b)/db = -a/b^2 = -y/b
  return record('div', [a, b], y, [sb, sy], (g, needs) => {
    const out: (Tensor | null)[] = [null, null];
    if (needs[0]) {
      const t = binary('div', g, sb);
      out[0] = reduceGrad(t, a.shape);
      t.dispose();
    }
    if (needs[1]) {
      const gy = binary('mul', g, sy);
      const t = binary('div', gy, sb);
      const r = reduceGrad(t, b.shape);
      out[1] = unary('neg', r);
      for (const x of [gy, t, r]) x.dispose();
    }
    return out;
  });
}

export function neg(x: Tensor): Tensor {
  const y = unary('neg', x);
  if (!needsGrad(x)) return y;
  return record('neg', [x], y, [], (g) => [unary('neg', g)]);
}

export function addScalar(x: Tensor, c: number): Tensor {
  const y = unary('addScalar', x, c);
  if (!needsGrad(x)) return y;
  return record('addScalar', [x], y, [], (g) => [g.view()]);
}

export function mulScalar(x: Tensor, c: number): Tensor {
  const y = unary('mulScalar', x, c);
  if (!needsGrad(x)) return y;
  return record('mulScalar', [x], y, [], (g) => [unary('mulScalar', g, c)]);
}

/** x^p for a constant p: d/dx = p x^(p-1). */
export function powScalar(x: Tensor, p: number): Tensor {
  const y = unary('powScalar', x, p);
  if (!needsGrad(x)) return y;
  const sx = x.view();
  return record('powScalar', [x], y, [sx], (g) => {
    const d = unary('powScalar', sx, p - 1);
    const t = binary('mul', g, d);
    const out = unary('mulScalar', t, p);
    d.dispose();
    t.dispose();
    return [out];
  });
}

export function checkSameShape(a: Tensor, b: Tensor, what: string): void {
  if (!sameShape(a.shape, b.shape)) throw new Error(`${what}: ${a} ${shapeStr(a.shape)} and ${b} ${shapeStr(b.shape)} differ`);
}
