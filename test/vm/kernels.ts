// Where the VM harness finds its checkout, its cache and the kernels
// test/vm/fetch-kernels put there; and the one error class of the harness.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';

// An error of the harness with what to do about it, printed by vm-run.
export class VmError extends Error {
  readonly hint?: string;
  constructor(message: string, hint?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'VmError';
    if (hint !== undefined) this.hint = hint;
  }
}

export const KERNEL_NAMES = ['trixie', 'sid'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

// The checkout: this file runs as <root>/dist/test/vm/kernels.js.
export function repoRoot(): string {
  return resolve(__dirname, '..', '..', '..');
}

// Files of test/vm/ that are read at run time (init.sh), from the source tree.
export function sourceDir(): string {
  return join(repoRoot(), 'test', 'vm');
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.NKIT_VM_CACHE || join(repoRoot(), '.cache', 'vm');
}

export interface Kernel {
  name: KernelName;
  /** uname -r of the kernel, e.g. 6.12.117+deb13-amd64 */
  release: string;
  /** The Debian packages and versions it came from, one "name version" a line. */
  packages: string;
  vmlinuz: string;
  config: string;
  /** The modules tree (holds modules.dep), real path. */
  modules: string;
  /** The kernel's cache directory, where its initramfs is kept too. */
  dir: string;
}

// The cached kernel of that name, or a VmError saying how to fetch it.
export function findKernel(name: KernelName, cache = cacheDir()): Kernel {
  const dir = join(cache, name);
  const paths = {
    version: join(dir, 'VERSION'),
    vmlinuz: join(dir, 'vmlinuz'),
    config: join(dir, 'config'),
    modules: join(dir, 'modules'),
  };
  for (const p of Object.values(paths)) {
    if (!existsSync(p)) {
      throw new VmError(`no cached ${name} kernel (${p} is missing)`,
        `fetch it first: test/vm/fetch-kernels ${name}`);
    }
  }
  return {
    name,
    release: readFileSync(paths.version, 'utf8').trim(),
    packages: existsSync(join(dir, 'PACKAGES')) ? readFileSync(join(dir, 'PACKAGES'), 'utf8') : '',
    vmlinuz: realpathSync(paths.vmlinuz),
    config: realpathSync(paths.config),
    modules: realpathSync(paths.modules),
    dir,
  };
}

// True when both kernels are fetched (tests skip themselves otherwise).
export function kernelsFetched(cache = cacheDir()): boolean {
  return KERNEL_NAMES.every((n) => existsSync(join(cache, n, 'VERSION')));
}
