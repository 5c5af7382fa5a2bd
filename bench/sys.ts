// Process and namespace plumbing shared by the lifecycle and datapath
// benchmarks: timed runs through bench/timeit.c, named network namespaces
// made in batches, and the re-exec of a runner inside a private "host"
// network namespace with the mount view a hook expects (test/lib/netns.ts).
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hostMountsArgv } from '../test/lib/netns';

/** What one timed command cost (bench/timeit.c). */
export interface Sample {
  ms: number;
  /** Peak RSS of the largest process of the command (ru_maxrss), KiB. */
  rssKb: number;
  userMs: number;
  sysMs: number;
}

export const NETNS_DIR = '/run/netns';

export class CommandFailed extends Error {
  constructor(argv: readonly string[], status: number | string, stderr: string) {
    super(`${argv.join(' ')} failed (${status}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
    this.name = 'CommandFailed';
  }
}

// Runs argv to completion; throws with its stderr when it fails.
export function sh(argv: readonly string[], o: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  const opts: SpawnSyncOptions = { encoding: 'utf8', env: o.env ?? process.env, timeout: o.timeoutMs ?? 120_000, maxBuffer: 64 << 20 };
  if (o.input !== undefined) opts.input = o.input;
  const r = spawnSync(argv[0]!, argv.slice(1), opts);
  if (r.error) throw new CommandFailed(argv, r.error.message, '');
  if (r.status !== 0) throw new CommandFailed(argv, r.status ?? String(r.signal), String(r.stderr));
  return String(r.stdout);
}

// Runs argv under timeit; a non-zero exit of the command throws.
export function timed(timeit: string, argv: readonly string[], o: { input?: string; env: NodeJS.ProcessEnv }): Sample {
  const r = spawnSync(timeit, argv, {
    encoding: 'utf8',
    env: o.env,
    input: o.input ?? '',
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    timeout: 300_000,
    maxBuffer: 64 << 20,
  });
  const line = String(r.output?.[3] ?? '').trim();
  if (r.status !== 0 || !line) throw new CommandFailed([timeit, ...argv], r.status ?? String(r.signal), String(r.stderr));
  const [ns, rss, user, sys, code] = line.split(' ').map(Number) as [number, number, number, number, number];
  if (code !== 0) throw new CommandFailed(argv, code, String(r.stderr));
  return { ms: ns / 1e6, rssKb: rss, userMs: user / 1000, sysMs: sys / 1000 };
}

// Adds (or deletes) many named netns with one `ip -batch` (untimed setup work).
export function netnsBatch(op: 'add' | 'del', names: readonly string[]): void {
  for (let i = 0; i < names.length; i += 500) {
    const chunk = names.slice(i, i + 500);
    const r = spawnSync('ip', ['-force', '-batch', '-'], { input: chunk.map((n) => `netns ${op} ${n}\n`).join(''), encoding: 'utf8' });
    if (op === 'add' && r.status !== 0) throw new CommandFailed(['ip', '-batch', `netns ${op} ...`], r.status ?? '?', r.stderr);
  }
}

// Named netns whose name starts with prefix.
export function netnsWithPrefix(prefix: string): string[] {
  try {
    return fs.readdirSync(NETNS_DIR).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

// Runs fn over items with at most `limit` promises in flight.
export async function pool<T>(items: readonly T[], limit: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// Async run to completion (for the untimed bulk work: existing containers).
export function shAsync(argv: readonly string[], o: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { env: o.env ?? process.env, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new CommandFailed(argv, code ?? '?', err))));
    c.stdin!.end(o.input ?? '');
  });
}

export const INNER_FLAG = '--inner-host-netns';

/**
 * Runs this script again inside a fresh netns that plays the host, in a
 * private mount namespace with that netns's sysfs and the real bpffs, so
 * that every command the benchmark times starts right there, without a
 * wrapper of its own. Deletes the netns, and every netns named with the
 * prefix, afterwards. Returns the inner run's exit code.
 */
export function reexecInHostNetns(prefix: string, script: string, args: readonly string[]): number {
  const host = `${prefix}host`;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nkb-mnt-'));
  try {
    sh(['ip', 'netns', 'add', host]);
    sh(['ip', '-n', host, 'link', 'set', 'lo', 'up']);
    const argv = hostMountsArgv([process.execPath, script, ...args, INNER_FLAG, host], { netns: host, scratchDir: scratch });
    const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    return r.status ?? 1;
  } finally {
    netnsBatch('del', netnsWithPrefix(prefix));
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

// The host netns name an inner run was given, or undefined in the outer run.
export function innerHostNetns(argv: readonly string[]): string | undefined {
  const i = argv.indexOf(INNER_FLAG);
  return i >= 0 ? argv[i + 1] : undefined;
}
