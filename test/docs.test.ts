// Docs are tested, not trusted (STYLE habit 14): every repository path the README and the
// glossary name in backticks exists in the tree.
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));

function pathsIn(doc: string): string[] {
  const text = readFileSync(join(root, doc), 'utf8');
  const out = new Set<string>();
  for (const m of text.matchAll(/`([^`\s]+)`/g)) {
    const p = m[1].replace(/:.*$/, '').replace(/[),.]+$/, '');
    // Repository paths only: a known top-level folder and no wildcard.
    if (/^(src|test|shaders|bench|scripts|docs|bin)\//.test(p) && !p.includes('*') && !p.includes('<')) out.add(p);
  }
  return [...out];
}

describe('docs name real paths', () => {
  for (const doc of ['README.md', 'src/GLOSSARY.md', 'bench/README.md', 'docs/data.md', 'docs/security.md']) {
    it(doc, () => {
      const paths = pathsIn(doc);
      if (doc === 'README.md' || doc === 'src/GLOSSARY.md') expect(paths.length).toBeGreaterThan(5);
      const missing = paths.filter((p) => !existsSync(join(root, p)));
      expect(missing, `${doc} names missing paths`).toEqual([]);
    });
  }
});
