// The cleanup scope test resources register with, and temp dirs removed with it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Whatever owns a resource's lifetime: a tap Test (t.teardown runs after the test
 * ends, passed or failed, last registered first). Kept minimal so the library does
 * not depend on tap's types.
 */
export interface Scope {
  teardown(fn: () => unknown): void;
}

/**
 * Register a cleanup that never throws: tap stops running the remaining teardowns
 * when one throws, which would leak everything registered before it.
 */
export function defer(scope: Scope, what: string, fn: () => unknown): void {
  scope.teardown(async () => {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`# cleanup failed: ${what}: ${(err as Error).message}\n`);
    }
  });
}

/** Create a fresh temp dir (prefix nkt-) that is removed when the scope ends. */
export async function tempDir(scope: Scope, prefix = 'nkt-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  defer(scope, `remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}
