// A private "host" for a container engine (podman, containerd) under test: a
// netns of its own, private /run and /dev/shm, and a cgroup subtree, all
// removed with the scope, so nothing the engine does reaches the real host.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec';
import { createNetns, hostMountsArgv, type Netns } from './netns';
import { defer, tempDir, type Scope } from './scope';
import { waitFor } from './wait';

/** What a test engine runs in. */
export interface EngineHost {
  netns: Netns;
  /** A temp dir for the engine's state (storage, sockets, fifos), removed with the scope. */
  work: string;
  /** Cgroup path (as the engine sees cgroup2 on /sys/fs/cgroup) every container must be put under. */
  cgroupParent: string;
  /** argv running `cmd` on this host (see PRIVATE_RUN_SCRIPT and hostMountsArgv). */
  argv(cmd: readonly string[]): string[];
}

/**
 * Runs inside hostMountsArgv's private mount namespace. Engines write to fixed
 * host paths whatever flags they get: Podman its SHM lock /dev/shm/libpod_lock
 * (shared with every other podman on the host), netavark /run/containers/networks,
 * runc /run/runc, containerd's shims /run/containerd/s. Fresh tmpfs on /run and
 * /dev/shm keep all of that private and gone when the last process exits.
 * Then `SRC DST` pairs up to "--" are bind-mounted (a test's copy of a config dir).
 */
const PRIVATE_RUN_SCRIPT = [
  'set -e',
  'mount -t tmpfs -o mode=0755 nkt-run /run',
  'mount -t tmpfs -o mode=1777 nkt-shm /dev/shm',
  'while [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done; shift',
  'exec "$@"',
].join('\n');

/** Options for engineHost. */
export interface EngineHostOptions {
  /** Directories bind-mounted over host paths for the engine only (e.g. a copy of /usr/share/containers). */
  binds?: { src: string; dst: string }[];
}

/** Where the host mounts cgroup2 (hybrid hosts: /sys/fs/cgroup/unified), from mountinfo. */
export async function hostCgroup2Root(): Promise<string> {
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n');
  for (const line of lines) {
    const [pre, post] = line.split(' - ');
    if (post?.startsWith('cgroup2 ')) return pre!.split(' ')[4]!;
  }
  throw new Error('no cgroup2 mount on this host');
}

/** Kill every process in a cgroup subtree (cgroup.kill, linux >= 5.14) and remove its directories, deepest first. */
export async function removeCgroupTree(dir: string): Promise<void> {
  await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => undefined);
  const subdirs = async (d: string): Promise<string[]> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    const out: string[] = [];
    for (const e of entries) if (e.isDirectory()) out.push(...(await subdirs(join(d, e.name))), join(d, e.name));
    return out;
  };
  for (const d of [...(await subdirs(dir)), dir]) {
    // A killed process leaves its cgroup a moment later.
    await waitFor(async () => rmdir(d).then(() => true, (e: NodeJS.ErrnoException) => e.code === 'ENOENT'), { timeoutMs: 5_000 });
  }
}

/** SIGKILL whatever runs in a named netns (daemons, shims, conmon); ignores the gone. */
export async function killNetnsProcesses(name: string): Promise<void> {
  const r = await run(['ip', 'netns', 'pids', name], { timeoutMs: 10_000 });
  for (const pid of r.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Create the host: netns, work dir, cgroup parent. Teardown (last registered,
 * first run): kill the cgroup subtree and the netns's processes, remove the
 * cgroups, then the work dir, then the netns.
 */
export async function engineHost(scope: Scope, name: string, opts: EngineHostOptions = {}): Promise<EngineHost> {
  const netns = await createNetns(scope, { prefix: `nkt-${name}` });
  const work = await tempDir(scope, `nkt-${name}-`);
  const scratchDir = join(work, 'mnt');
  await mkdir(scratchDir);
  const cgroupParent = `/nkt-${name}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const cgroupDir = join(await hostCgroup2Root(), cgroupParent);
  defer(scope, `stop ${name} in ${netns.name} and remove ${cgroupDir}`, async () => {
    await writeFile(join(cgroupDir, 'cgroup.kill'), '1').catch(() => undefined);
    await killNetnsProcesses(netns.name);
    await removeCgroupTree(cgroupDir);
  });
  return {
    netns,
    work,
    cgroupParent,
    argv: (cmd) =>
      hostMountsArgv(
        ['sh', '-c', PRIVATE_RUN_SCRIPT, 'nkt-private-run', ...(opts.binds ?? []).flatMap((b) => [b.src, b.dst]), '--', ...cmd],
        { netns: netns.name, scratchDir, cgroup2: true },
      ),
  };
}
