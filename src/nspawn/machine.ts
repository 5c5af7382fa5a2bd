// systemd-nspawn machines on nkit's network: a network namespace per
// machine (bind-mounted under <runDir>/netns/<name>), set up exactly like a
// container (same planner, IPAM, policy; the record keyed by the machine
// name), handed to nspawn with --network-namespace-path=, torn down after.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { LoadedConfig } from '../config/config';
import { NkitError, asNkitError } from '../errors';
import { ContainerRecord } from '../lifecycle/record';
import { setupContainer } from '../lifecycle/setup';
import { teardownContainer, TeardownResult } from '../lifecycle/teardown';
import { Logger } from '../log';
import { addon, MNT_DETACH, MS_BIND } from '../native';
import { ANNOTATION_NETWORK, ANNOTATION_POLICY } from '../plan/plan';
import { validateContainerId } from '../plan/naming';
import { ensureDir } from '../dirs';

export interface MachineOptions {
  network?: string;
  policy?: string;
}

// Where a machine's namespace is bind-mounted.
export const machineNetnsPath = (runDir: string, name: string): string => path.join(runDir, 'netns', validateContainerId(name));

// nspawn options that would give the machine a network of its own.
const CONFLICTING = [/^--private-network$/, /^-n$/, /^--network-(veth|bridge|zone|interface|macvlan|ipvlan|veth-extra|namespace-path)(=|$)/, /^--port(=|$)/, /^-p$/];

// Checks the nspawn command line: program first, no network options of its own.
export function checkNspawnArgv(argv: string[]): void {
  if (!argv.length) throw new NkitError('EUSAGE', 'no nspawn command line after --', { hint: 'nkit-nspawn --machine NAME -- systemd-nspawn -D DIR ...' });
  const bad = argv.slice(1).find((a) => CONFLICTING.some((re) => re.test(a)));
  if (bad) throw new NkitError('EUSAGE', `nspawn option ${bad} conflicts with nkit's network`, { hint: 'nkit gives the machine its network namespace; drop the option' });
}

const NSFS_MAGIC = 0x6e736673;

// Creates (or reuses) the machine's namespace at its path.
function ensureNetns(nsPath: string): void {
  if (fs.existsSync(nsPath)) {
    if (addon().statfsType(nsPath) === NSFS_MAGIC) return;
    // A plain file left by a crash between create and bind mount.
    fs.rmSync(nsPath, { force: true });
  }
  ensureDir(path.dirname(nsPath), 'machine namespace');
  fs.closeSync(fs.openSync(nsPath, 'w', 0o600));
  const a = addon();
  const fd = a.netnsNew();
  try {
    a.mount(`/proc/self/fd/${fd}`, nsPath, '', MS_BIND, '');
  } catch (err) {
    fs.rmSync(nsPath, { force: true });
    throw asNkitError(err, 'EKERNEL', `bind-mount a network namespace at ${nsPath}`);
  } finally {
    a.closeFd(fd);
  }
}

// Unmounts and removes the machine's namespace (gone already is fine).
function removeNetns(nsPath: string): boolean {
  if (!fs.existsSync(nsPath)) return false;
  try {
    addon().umount(nsPath, MNT_DETACH);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EINVAL') throw asNkitError(err, 'EKERNEL', `unmount ${nsPath}`);
  }
  fs.rmSync(nsPath, { force: true });
  return true;
}

// `up`: the machine's namespace and its network, ready for nspawn.
export function machineUp(name: string, o: MachineOptions, cfg: LoadedConfig, log: Logger): { record: ContainerRecord; nsPath: string } {
  const nsPath = machineNetnsPath(cfg.runDir, name);
  ensureNetns(nsPath);
  try {
    const annotations: Record<string, string> = {};
    if (o.network) annotations[ANNOTATION_NETWORK] = o.network;
    if (o.policy) annotations[ANNOTATION_POLICY] = o.policy;
    const r = setupContainer({ id: name, bundle: { netns: { present: true, path: nsPath }, annotations: {} }, annotations, config: cfg, log });
    return { record: r.record, nsPath };
  } catch (err) {
    // Setup rolled its own work back; the namespace is ours to remove.
    try {
      removeNetns(nsPath);
    } catch (e) {
      log.error({ machine: name, err: e }, 'could not remove the machine namespace after a failed setup');
    }
    throw err;
  }
}

// `down`: the network and the namespace; idempotent.
export function machineDown(name: string, cfg: LoadedConfig, log: Logger): TeardownResult {
  const r = teardownContainer(name, cfg, log);
  if (removeNetns(machineNetnsPath(cfg.runDir, name))) r.removed.push('netns');
  return r;
}

// Runs nspawn with the machine's namespace, forwarding signals, and tears
// down when it exits however it ends (also when nspawn is killed). Resolves
// to nspawn's exit code (128 + signal when a signal ended it).
export async function runMachine(name: string, o: MachineOptions, argv: string[], cfg: LoadedConfig, log: Logger): Promise<number> {
  checkNspawnArgv(argv);
  const { nsPath } = machineUp(name, o, cfg, log);
  const [prog, ...args] = argv;
  const child = spawn(prog!, [`--network-namespace-path=${nsPath}`, ...args], { stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const code = await new Promise<number>((resolve) => {
    child.on('error', (err) => {
      log.error({ machine: name, err }, `cannot run ${prog}`);
      process.stderr.write(`nkit-nspawn: cannot run ${prog}: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (c, sig) => resolve(c ?? 128 + (sig ? osConstants.signals[sig] : 0)));
  });
  for (const [s, h] of handlers) process.off(s, h);
  log.info({ machine: name, code }, 'nspawn exited, tearing down');
  machineDown(name, cfg, log);
  return code;
}
