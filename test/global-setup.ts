// Once per test run (vitest globalSetup, in the main process before the test fork starts): a
// scratch directory for the whole run. TMPDIR points into it, so os.tmpdir() in the test files
// and in the CLI processes they spawn (both inherit this environment) lands there, and the
// directory is removed when the run ends: the runs, checkpoints and bench caches the tests make
// no longer pile up in /tmp. The autotuner's disk cache moves there too (unless
// MEDIVLAD_CACHE_DIR is set), so a developer's tuned kernel choices (`medivlad bench --tune`,
// ~/.cache/medivlad) never change which kernels a CLI test runs.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'medivlad-test-run-'));
  const scratch = join(root, 'tmp');
  mkdirSync(scratch);
  process.env.TMPDIR = scratch;
  if (!process.env.MEDIVLAD_CACHE_DIR) process.env.MEDIVLAD_CACHE_DIR = join(root, 'cache');
  return () => rmSync(root, { recursive: true, force: true });
}
