// Named network namespaces owned by one test, and running commands inside them.
import { randomBytes } from 'node:crypto';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { run, runOk, type RunOptions, type RunResult } from './exec';
import { defer, type Scope } from './scope';

/** Where iproute2 bind-mounts named network namespaces. */
export const NETNS_RUN_DIR = '/run/netns';

/** A named netns the test created; removed when its scope ends, even on failure. */
export interface Netns {
  readonly name: string;
  /** /run/netns/<name>: usable as an OCI linux.namespaces path or with nsenter --net. */
  readonly path: string;
  /** Run a command in the netns with `ip netns exec` (note: that hides /sys/fs/bpf; see hostMountsArgv). */
  exec(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Delete now (idempotent); the scope's teardown then has nothing left to do. */
  remove(): Promise<void>;
}

/** Options for createNetns. */
export interface NetnsOptions {
  /** Name prefix (default "nkt"); the name is <prefix>-<pid>-<random>. */
  prefix?: string;
  /** Bring lo up inside (default true), as runtimes do for containers. */
  loUp?: boolean;
}

/** argv that runs `argv` inside netns `name` via iproute2. */
export function netnsExecArgv(name: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', name, ...argv];
}

/** Names of all named network namespaces (from `ip -j netns list`). */
export async function listNetns(): Promise<string[]> {
  const r = await runOk(['ip', '-j', 'netns', 'list'], { timeoutMs: 10_000 });
  if (r.stdout.trim() === '') return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}

/** The netns inode of a namespace file, e.g. /run/netns/x or /proc/<pid>/ns/net. */
export async function netnsInode(path: string): Promise<number> {
  return (await stat(path)).ino;
}

/**
 * What keeps a netns (by inode) alive: processes in it (from /proc/<pid>/ns/net)
 * and nsfs mounts of it visible in this mount namespace. Both empty means gone.
 */
export async function netnsHolders(inode: number): Promise<{ pids: number[]; mounts: string[] }> {
  const want = `net:[${inode}]`;
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const link = await readlink(`/proc/${e}/ns/net`).catch(() => undefined);
    if (link === want) pids.push(Number(e));
  }
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .filter((line) => line.split(' ')[3] === want)
    .map((line) => line.split(' ')[4] ?? '');
  return { pids, mounts };
}

/** Delete a named netns, killing what still runs in it; "already gone" is success. */
export async function deleteNetns(name: string): Promise<void> {
  const pids = await run(['ip', 'netns', 'pids', name], { timeoutMs: 10_000 });
  if (pids.code === 0) {
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already exited
      }
    }
  }
  const r = await run(['ip', 'netns', 'del', name], { timeoutMs: 10_000 });
  if (r.code !== 0 && !/No such file|not found/i.test(r.stderr)) {
    throw new Error(`ip netns del ${name} failed: ${r.stderr.trim()}`);
  }
}

/**
 * Create a uniquely named netns for one test. Names are random, not counted, so
 * the library keeps no module state and parallel test processes never collide.
 */
export async function createNetns(scope: Scope, opts: NetnsOptions = {}): Promise<Netns> {
  const prefix = opts.prefix ?? 'nkt';
  let name = '';
  for (let attempt = 0; ; attempt++) {
    name = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const r = await run(['ip', 'netns', 'add', name], { timeoutMs: 10_000 });
    if (r.code === 0) break;
    if (attempt >= 3 || !/exists/i.test(r.stderr)) {
      throw new Error(`ip netns add ${name} failed: ${r.stderr.trim()}`);
    }
  }
  const ns: Netns = {
    name,
    path: `${NETNS_RUN_DIR}/${name}`,
    exec: (argv, runOpts) => run(netnsExecArgv(name, argv), runOpts),
    remove: () => deleteNetns(name),
  };
  defer(scope, `delete netns ${name}`, ns.remove);
  if (opts.loUp ?? true) await runOk(['ip', '-n', name, 'link', 'set', 'lo', 'up'], { timeoutMs: 10_000 });
  return ns;
}

/** Options for hostMountsArgv. */
export interface HostMountsOptions {
  /** Named netns to enter; omitted means stay in the caller's netns. */
  netns?: string;
  /** An empty dir on the host the wrapper may use as a transient mount point. */
  scratchDir: string;
  /** Mount cgroup2 on /sys/fs/cgroup (runc and crun need it, see runtime.ts). */
  cgroup2?: boolean;
}

/**
 * Shell script for hostMountsArgv. `ip netns exec` detaches /sys and mounts a fresh
 * sysfs, which also drops /sys/fs/bpf (hooks could not pin into the host's bpffs)
 * and /sys/fs/cgroup (runc: "no cgroup mount found in mountinfo"). So: in a
 * private mount namespace, bind the host bpffs aside, swap in the netns's own
 * sysfs (so /sys/class/net lists the netns's devices), move bpffs back on top —
 * same superblock, so pins are the host's — and mount cgroup2 if asked.
 */
const HOST_MOUNTS_SCRIPT = [
  'set -e',
  's="$1"; cg="$2"; shift 2',
  'bpf=; if [ -d /sys/fs/bpf ]; then mount --bind /sys/fs/bpf "$s"; bpf=1; fi',
  'umount -l /sys',
  'mount -t sysfs sysfs /sys',
  'if [ -n "$bpf" ]; then mount --move "$s" /sys/fs/bpf; fi',
  'if [ "$cg" = 1 ]; then mount -t cgroup2 cgroup2 /sys/fs/cgroup; fi',
  'exec "$@"',
].join('\n');

/**
 * argv that runs `argv` in netns `opts.netns` as a hook expects its host to look:
 * the netns's sysfs, the host's bpffs, /run and everything else as on the host,
 * in a throwaway mount namespace (mount changes never reach the host).
 */
export function hostMountsArgv(argv: readonly string[], opts: HostMountsOptions): string[] {
  const enter = opts.netns === undefined ? [] : ['nsenter', `--net=${NETNS_RUN_DIR}/${opts.netns}`];
  return [
    ...enter,
    'unshare', '--mount', '--propagation', 'slave',
    'sh', '-c', HOST_MOUNTS_SCRIPT, 'nkt-host-mounts', opts.scratchDir, opts.cgroup2 ? '1' : '0',
    ...argv,
  ];
}
