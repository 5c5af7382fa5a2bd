// Real containerd for e2e tests: a private daemon in an EngineHost (its own
// socket, root and state in the work dir, no CRI), driven with ctr.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineHost } from './engine-host';
import { killGroup, run, runOk, type RunResult } from './exec';
import { NKIT_BASE_SPEC } from './hooksd';
import { defer, type Scope } from './scope';
import { busyboxSkipReason, firstReason, rootSkipReason, toolsSkipReason } from './skip';
import { waitFor } from './wait';

/** A running private containerd. */
export interface Containerd {
  address: string;
  /** `containerd --version`, first line. */
  version: string;
  /** Its log (stdout and stderr), for failure messages. */
  log(): Promise<string>;
  /** Run `ctr --address A ...args` (ctr needs no wrapper: it only talks to the socket). */
  ctr(args: readonly string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
}

/**
 * config.toml for a private daemon: everything under `work`, the CRI plugin
 * (and with it CNI) and the snapshotters that probe kernel features disabled,
 * the "opt" plugin's directory moved out of /opt/containerd.
 */
export function containerdConfig(work: string): string {
  return [
    'version = 2',
    `root = ${JSON.stringify(join(work, 'root'))}`,
    `state = ${JSON.stringify(join(work, 'state'))}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",',
    '  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
    '[grpc]',
    `  address = ${JSON.stringify(join(work, 'containerd.sock'))}`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${JSON.stringify(join(work, 'opt'))}`,
    '',
  ].join('\n');
}

/** Start containerd in `host`; stopped (SIGTERM, then SIGKILL) when the scope ends. */
export async function startContainerd(scope: Scope, host: EngineHost): Promise<Containerd> {
  const configPath = join(host.work, 'containerd.toml');
  const logPath = join(host.work, 'containerd.log');
  await writeFile(configPath, containerdConfig(host.work));
  const address = join(host.work, 'containerd.sock');
  const fd = openSync(logPath, 'a');
  const [cmd, ...args] = host.argv(['containerd', '--config', configPath]);
  const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited = false;
  child.on('exit', () => (exited = true));
  defer(scope, 'stop containerd', async () => {
    if (child.pid === undefined || exited) return;
    killGroup(child.pid, 'SIGTERM');
    if (!(await waitFor(() => exited, { timeoutMs: 5_000 }))) killGroup(child.pid, 'SIGKILL');
  });
  const ctr = (a: readonly string[], o: { timeoutMs?: number } = {}): Promise<RunResult> =>
    run(['ctr', '--address', address, ...a], { timeoutMs: o.timeoutMs ?? 30_000, killGraceMs: 500 });
  const log = (): Promise<string> => readFile(logPath, 'utf8').catch(() => '');
  const up = await waitFor(async () => !exited && (await ctr(['version'], { timeoutMs: 5_000 })).code === 0, { timeoutMs: 20_000, intervalMs: 200 });
  if (!up) throw new Error(`containerd did not come up: ${(await log()).slice(-2000)}`);
  const version = (await runOk(['containerd', '--version'], { timeoutMs: 10_000 })).stdout.split('\n')[0]!.trim();
  return { address, version, log, ctr };
}

/** What a test changes in the base spec for one container. */
export interface CtrContainer {
  id: string;
  rootfs: string;
  args: string[];
  annotations?: Record<string, string>;
}

/**
 * The spec an operator would build (`ctr oci spec | nkit-base-spec HOOKS`), then
 * one container's root, command, annotations, and a cgroup under the host's parent.
 */
export async function ctrSpec(host: EngineHost, hooksFile: string | undefined, c: CtrContainer): Promise<Record<string, any>> {
  const base = (await runOk(['ctr', 'oci', 'spec'], { timeoutMs: 10_000 })).stdout;
  const merged = hooksFile === undefined ? base : (await runOk([NKIT_BASE_SPEC, hooksFile], { input: base, timeoutMs: 10_000 })).stdout;
  const spec = JSON.parse(merged) as Record<string, any>;
  spec.root = { path: c.rootfs, readonly: false };
  spec.process.args = c.args;
  spec.process.env = ['PATH=/bin:/sbin:/usr/bin:/usr/sbin', 'HOME=/root'];
  spec.process.terminal = false;
  if (c.annotations) spec.annotations = { ...c.annotations };
  spec.linux.cgroupsPath = `${host.cgroupParent}/${c.id}`;
  return spec;
}

/** `ctr run --rm --config SPEC ID` to completion; returns ctr's result (the container's output). */
export async function ctrRun(cd: Containerd, host: EngineHost, spec: Record<string, unknown>, id: string, timeoutMs: number): Promise<RunResult> {
  const dir = join(host.work, 'specs');
  await mkdir(dir, { recursive: true });
  const specPath = join(dir, `${id}.json`);
  await writeFile(specPath, JSON.stringify(spec, null, 2));
  const fifo = join(host.work, 'fifo');
  await mkdir(fifo, { recursive: true });
  return cd.ctr(['run', '--rm', '--config', specPath, '--fifo-dir', fifo, id], { timeoutMs });
}

/** Why a private containerd cannot run here, else false. */
export function containerdSkipReason(): string | false {
  return firstReason(
    rootSkipReason(),
    toolsSkipReason(['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'ip', 'nsenter', 'unshare', 'mount', 'bpftool']),
    busyboxSkipReason(),
  );
}
