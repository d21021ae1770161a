// Reads the PyTorch fixtures written by scripts/make-fixtures*.py (committed JSON).
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Fixture {
  meta: Record<string, unknown>;
  torch: string;
  get(name: string): { shape: number[]; data: Float32Array; f64: Float64Array };
  has(name: string): boolean;
}

export function loadFixture(name: string): Fixture {
  const path = fileURLToPath(new URL(`../fixtures/${name}.json`, import.meta.url));
  if (!existsSync(path)) throw new Error(`fixture ${path} is missing; rebuild with /usr/bin/python3 scripts/make-fixtures.py`);
  const doc = JSON.parse(readFileSync(path, 'utf8'));
  if (doc.format !== 'medivlad-fixture' || doc.version !== 1) {
    throw new Error(`fixture ${path}: format ${doc.format} v${doc.version} is not medivlad-fixture v1; rebuild with ${doc.rebuild ?? 'scripts/make-fixtures.py'}`);
  }
  const tensors = doc.tensors as Record<string, { shape: number[]; data: number[] }>;
  return {
    meta: doc.meta,
    torch: doc.torch,
    has: (n) => n in tensors,
    get: (n) => {
      const t = tensors[n];
      if (!t) throw new Error(`fixture ${name}: no tensor '${n}'`);
      return { shape: t.shape, data: Float32Array.from(t.data), f64: Float64Array.from(t.data) };
    },
  };
}
