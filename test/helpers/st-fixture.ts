// Reads the safetensors fixtures written by scripts/make-fixtures.py (write_safetensors).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseSafetensors } from '../../src/models/safetensors.js';

export function loadStFixture(name: string): { meta: Record<string, unknown>; get(n: string): { shape: number[]; data: Float32Array } } {
  const path = fileURLToPath(new URL(`../fixtures/${name}.safetensors`, import.meta.url));
  const { tensors, metadata } = parseSafetensors(new Uint8Array(readFileSync(path)), { file: path });
  if (metadata.format !== 'medivlad-fixture' || metadata.version !== '1') {
    throw new Error(`fixture ${path} is not medivlad-fixture v1; rebuild with ${metadata.rebuild ?? 'scripts/make-fixtures.py'}`);
  }
  return {
    meta: JSON.parse(metadata.meta ?? '{}'),
    get: (n) => {
      const t = tensors.get(n);
      if (!t) throw new Error(`fixture ${name}: no tensor '${n}'`);
      return { shape: t.shape, data: t.data };
    },
  };
}
