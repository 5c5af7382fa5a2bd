// Real Podman for e2e tests: `podman run --rm --rootfs` in an EngineHost, with
// all of its state in the host's work dir.
import { cp, mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { EngineHost } from './engine-host';
import { run, type RunResult } from './exec';
import { tempDir, type Scope } from './scope';
import { busyboxSkipReason, firstReason, rootSkipReason, toolsSkipReason } from './skip';

/** One `podman run`. */
export interface PodmanRunOptions {
  /** A busybox tree (buildRootfs) run as is: no registry is reachable here. */
  rootfs: string;
  args: string[];
  /**
   * --hooks-dir. Undefined: none, so Podman uses its configured or built-in
   * dirs; only for a host whose /usr/share/containers is a test's copy (EngineHost binds).
   */
  hooksDir: string | undefined;
  /** Environment for podman (e.g. CONTAINERS_CONF); default the test's. */
  env?: NodeJS.ProcessEnv;
  /** `run -d` (podmanRunArgv only) instead of `run --rm`. */
  detach?: boolean;
  annotations?: Record<string, string>;
  capAdd?: string[];
  timeoutMs: number;
}

/**
 * Global flags: storage, run and tmp dirs in the work dir (vfs: no overlay
 * mounts to leak), network config dir there too (else podman creates
 * /etc/containers/networks), cgroupfs, events to a file (no journald here).
 */
export function podmanGlobalArgs(work: string): string[] {
  return [
    '--root', join(work, 'storage'),
    '--runroot', join(work, 'runroot'),
    '--tmpdir', join(work, 'tmp'),
    '--network-config-dir', join(work, 'networks'),
    '--storage-driver', 'vfs',
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
  ];
}

/**
 * The full `podman run` command line, without the EngineHost wrapper. On this
 * host: runc (crun fails the same way on rlimits), ulimits lowered because
 * there is no CAP_SYS_RESOURCE to raise them, no pids limit (the hybrid host's
 * cgroup2 hierarchy has no pids controller: "openat2 .../pids.max: no such
 * file"), --network=none so podman makes an empty netns for nkit to fill.
 */
export function podmanRunArgv(host: Pick<EngineHost, 'work' | 'cgroupParent'>, o: Omit<PodmanRunOptions, 'timeoutMs' | 'env'>): string[] {
  return [
    'podman', ...podmanGlobalArgs(host.work), ...(o.hooksDir === undefined ? [] : ['--hooks-dir', o.hooksDir]),
    'run', o.detach ? '-d' : '--rm', '--runtime', 'runc',
    '--cgroup-parent', host.cgroupParent, '--pids-limit', '-1',
    '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024',
    '--network=none',
    ...Object.entries(o.annotations ?? {}).flatMap(([k, v]) => ['--annotation', `${k}=${v}`]),
    ...(o.capAdd ?? []).flatMap((c) => ['--cap-add', c]),
    '--rootfs', o.rootfs,
    ...o.args,
  ];
}

/**
 * Podman with `host`'s state, in `host` (for commands other than podmanRun). Each
 * call is a separate private /dev/shm, so Podman's locks do not carry over
 * from one call to the next: put a sequence of commands in one call.
 */
export function podmanArgv(host: Pick<EngineHost, 'work'>, args: readonly string[]): string[] {
  return ['podman', ...podmanGlobalArgs(host.work), ...args];
}

/** Create the directories podmanGlobalArgs names. */
export async function podmanDirs(host: Pick<EngineHost, 'work'>): Promise<void> {
  for (const d of ['storage', 'runroot', 'tmp', 'networks']) await mkdir(join(host.work, d), { recursive: true });
}

/** Run a container to completion (podman removes it: --rm). */
export async function podmanRun(host: EngineHost, o: PodmanRunOptions): Promise<RunResult> {
  await podmanDirs(host);
  return run(host.argv(podmanRunArgv(host, o)), { timeoutMs: o.timeoutMs, killGraceMs: 500, ...(o.env ? { env: o.env } : {}) });
}

/**
 * A copy of `dir` (e.g. /usr/share/containers) with `hooksFrom`'s JSON files in
 * its oci/hooks.d, to bind over the real one with EngineHost's binds.
 */
export async function copyWithHooks(scope: Scope, dir: string, hooksFrom: string): Promise<string> {
  const copy = join(await tempDir(scope, 'nkt-containers-'), basename(dir));
  await cp(dir, copy, { recursive: true });
  const hooksD = join(copy, 'oci', 'hooks.d');
  await rm(hooksD, { recursive: true, force: true });
  await cp(hooksFrom, hooksD, { recursive: true });
  return copy;
}

/** Why podmanRun cannot work here, else false. */
export function podmanSkipReason(): string | false {
  return firstReason(
    rootSkipReason(),
    toolsSkipReason(['podman', 'conmon', 'runc', 'ip', 'nsenter', 'unshare', 'mount', 'bpftool']),
    busyboxSkipReason(),
  );
}
