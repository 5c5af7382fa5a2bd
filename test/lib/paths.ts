// Where the repository and its test fixtures are, wherever the compiled test runs from.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Find the nearest directory at or above `start` that holds a package.json. */
export function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json at or above ${start}`);
    dir = parent;
  }
}

/** The repository root: works from test/lib (ts-node) and from dist/test/lib (compiled). */
export const repoRoot: string = findRepoRoot(__dirname);

/**
 * Real OCI hook inputs captured from runc 1.1.5, crun 1.8.1 and Podman 4.3.1.
 * A copy of /work/shared/fixtures/oci kept in the repository so CI has it.
 */
export const fixturesDir: string = join(repoRoot, 'test', 'fixtures', 'oci');

/** Path of one OCI fixture file, e.g. fixturePath('runc-1.1.5-poststop-state.json'). */
export function fixturePath(name: string): string {
  return join(fixturesDir, name);
}
