// Run an OCI bundle to completion with runc or crun, inside a test's "host" netns.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Runtime } from './bundle';
import { run, type RunResult } from './exec';
import { hostMountsArgv } from './netns';
import { busyboxSkipReason, firstReason, rootSkipReason, toolsSkipReason } from './skip';

export type { Runtime } from './bundle';

/** Options for runtimeRun. */
export interface RuntimeRunOptions {
  runtime: Runtime;
  /** Bundle directory (holding config.json). */
  bundle: string;
  /** Container id. */
  id: string;
  /** Named netns that plays the host: the runtime and its hooks run in it. */
  hostNetns?: string;
  /** Bound on the whole run; on expiry the runtime's process group is killed. */
  timeoutMs: number;
  /** Runtime state dir (--root); default a private temp dir removed afterwards. */
  stateRoot?: string;
  /** Container stdin (default /dev/null). */
  input?: string;
}

/** The run's outcome, plus what the runtime left in its state root and had to be force-deleted. */
export interface RuntimeRunResult extends RunResult {
  /** Entries in the state root after the runtime exited (empty after a clean run in a private root). */
  leftover: string[];
}

/**
 * The full command line for one runtime verb. Both runtimes run under
 * hostMountsArgv: `nsenter --net=/run/netns/NS unshare --mount --propagation slave
 * sh -c '<bind /sys/fs/bpf aside; umount -l /sys; mount sysfs; move bpffs back;
 * mount -t cgroup2 cgroup2 /sys/fs/cgroup>; exec "$@"' ... RUNTIME --root R run
 * --bundle B ID`.
 * Why cgroup2 for both: this host is a v1/v2 hybrid (/sys/fs/cgroup is a tmpfs of
 * v1 controllers, cgroup2 at /sys/fs/cgroup/unified). crun 1.8.1 fails there
 * unless it sees cgroup2 on /sys/fs/cgroup, and a netns's fresh sysfs has no
 * cgroup mounts at all (runc: "no cgroup mount found in mountinfo"). The cgroup2
 * mount is the host's unified hierarchy (no controllers in hybrid mode), so the
 * runtimes' cgroups appear under /sys/fs/cgroup/unified/<id> and go with delete.
 */
export function runtimeArgv(
  opts: { runtime: Runtime; stateRoot: string; scratchDir: string; hostNetns?: string },
  verb: readonly string[],
): string[] {
  return hostMountsArgv([opts.runtime, '--root', opts.stateRoot, ...verb], {
    ...(opts.hostNetns === undefined ? {} : { netns: opts.hostNetns }),
    scratchDir: opts.scratchDir,
    cgroup2: true,
  });
}

/**
 * `RUNTIME run` a bundle to completion (see runtimeArgv for the exact command line).
 * Afterwards, whatever happened, force-delete the container if the runtime left
 * state behind (a timeout, a failed hook) and remove the private dirs.
 */
export async function runtimeRun(opts: RuntimeRunOptions): Promise<RuntimeRunResult> {
  const work = await mkdtemp(join(tmpdir(), `nkt-${opts.runtime}-`));
  const stateRoot = opts.stateRoot ?? join(work, 'state');
  const scratchDir = join(work, 'mnt');
  await mkdir(stateRoot, { recursive: true, mode: 0o700 });
  await mkdir(scratchDir);
  const base = { runtime: opts.runtime, stateRoot, scratchDir, ...(opts.hostNetns ? { hostNetns: opts.hostNetns } : {}) };
  try {
    const result = await run(runtimeArgv(base, ['run', '--bundle', opts.bundle, opts.id]), {
      timeoutMs: opts.timeoutMs,
      // A killed runtime's container keeps stdout open until delete -f: don't wait long for it.
      killGraceMs: 500,
      ...(opts.input === undefined ? {} : { input: opts.input }),
    });
    const leftover = await readdir(stateRoot).catch(() => [] as string[]);
    // Only our container: a caller's shared stateRoot may hold others on purpose.
    if (leftover.includes(opts.id)) await forceDelete(base, [opts.id]);
    return { ...result, leftover };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `RUNTIME delete -f` each leftover container; failures are reported, not thrown. */
async function forceDelete(
  base: { runtime: Runtime; stateRoot: string; scratchDir: string; hostNetns?: string },
  ids: readonly string[],
): Promise<void> {
  for (const id of ids) {
    const r = await run(runtimeArgv(base, ['delete', '-f', id]), { timeoutMs: 15_000 });
    if (r.code !== 0 && !/does not exist|not found|No such/i.test(r.stderr)) {
      process.stderr.write(`# ${base.runtime} delete -f ${id} failed: ${r.stderr.trim()}\n`);
    }
  }
}

/** Why runtimeRun with `runtime` cannot work here (not root, a tool missing), else false. */
export function runtimeSkipReason(runtime: Runtime): string | false {
  return firstReason(
    rootSkipReason(),
    toolsSkipReason([runtime, 'ip', 'nsenter', 'unshare', 'mount', 'umount']),
    busyboxSkipReason(),
  );
}
