// An nkit installation for one test: its own config, runDir and bpffs
// directory, hooks that point at this checkout, and a check that nothing
// is left behind.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { OciHook, HookStage } from './bundle';
import { containerPins, ipLinks, ipRoutes, listFiles } from './kernel';
import { repoRoot } from './paths';
import { defer, tempDir, type Scope } from './scope';
import { hostMountsArgv } from './netns';
import { waitFor } from './wait';

export const HOOK = join(repoRoot, 'hooks', 'nkit-oci-hook');
export const CLI = join(repoRoot, 'bin', 'nkit');
/** What setup pins under <bpffsDir>/<id>/: both links and every map. */
export const PINS = ['link_egress', 'link_ingress', 'map_cfg', 'map_cidr4', 'map_cidr6', 'map_cidrh', 'map_counters', 'map_ct', 'map_gen', 'map_ports'];

export interface NkitTestEnv {
  configPath: string;
  runDir: string;
  bpffsDir: string;
  config: Record<string, unknown>;
  /** An OCI hook entry running nkit-oci-hook at `stage` with this config. */
  hook(stage: HookStage, extraEnv?: string[]): OciHook;
  hooks(stages: HookStage[], extraEnv?: string[]): Partial<Record<HookStage, OciHook[]>>;
}

export interface NkitEnvOptions {
  policy?: string;
  datapath?: 'auto' | 'netkit' | 'veth';
  subnets?: string[];
  /** Extra top-level config keys, or overrides. */
  extra?: Record<string, unknown>;
}

// Creates the config and directories, removed when the scope ends.
export async function nkitEnv(scope: Scope, o: NkitEnvOptions = {}): Promise<NkitTestEnv> {
  const dir = await tempDir(scope, 'nkt-nkit-');
  const runDir = join(dir, 'run');
  const bpffsDir = `/sys/fs/bpf/nkit-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  defer(scope, `remove ${bpffsDir}`, () => rm(bpffsDir, { recursive: true, force: true }));
  const config: Record<string, unknown> = {
    datapath: o.datapath ?? 'auto',
    runDir,
    bpffsDir,
    policiesDir: join(dir, 'policies'),
    networks: { default: { subnets: o.subnets ?? ['10.213.0.0/24', 'fd6e:6b69:74::/64'], mtu: 1500, mode: 'l3' } },
    policy: o.policy ?? 'deny-all',
    logLevel: 'debug',
    ...(o.extra ?? {}),
  };
  const configPath = join(dir, 'config.json');
  await writeFile(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
  const hook = (stage: HookStage, extraEnv: string[] = []): OciHook => ({
    path: HOOK,
    args: ['nkit-oci-hook', '--config', configPath, stage],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...extraEnv],
    // Generous: under TCG emulation (the VM suite) Node starts ~20x slower.
    timeout: 300,
  });
  return {
    configPath,
    runDir,
    bpffsDir,
    config,
    hook,
    hooks: (stages, extraEnv) => Object.fromEntries(stages.map((s) => [s, [hook(s, extraEnv)]])),
  };
}

export interface Leftovers {
  devices: string[];
  routes: string[];
  files: string[];
  pins: string[];
}

// What nkit left in the host netns, the runDir and the bpffs dir: device
// names starting with "nk", routes through them or to the network, lease
// and record files, pins.
export async function leftovers(env: NkitTestEnv, hostNetns: string): Promise<Leftovers> {
  const links = await ipLinks({ netns: hostNetns });
  const devices = links.map((l) => l.ifname).filter((n) => n.startsWith('nk'));
  const routes = [...(await ipRoutes({ netns: hostNetns, family: 4 })), ...(await ipRoutes({ netns: hostNetns, family: 6 }))]
    .filter((r) => (r.dev ?? '').startsWith('nk') || /^10\.213\.|^fd6e:6b69:74/.test(r.dst))
    .map((r) => `${r.dst} dev ${r.dev}`);
  const files = (await listFiles(env.runDir)).filter(
    (f) => !f.endsWith('/') && !f.endsWith('.lock') && f !== 'nkit.log' && f !== 'nkitd.sock',
  );
  const pins = await containerPins(env.bpffsDir);
  return { devices, routes, files, pins };
}

// Starts `nkit agent` for this test's config inside the test's host netns
// (with the same mount view the hooks get); stopped when the scope ends.
export async function startTestAgent(scope: Scope, env: NkitTestEnv, hostNetns: string): Promise<void> {
  const scratch = await tempDir(scope, 'nkt-agent-mnt-');
  const argv = hostMountsArgv([CLI, '--config', env.configPath, 'agent'], { netns: hostNetns, scratchDir: scratch });
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  defer(scope, 'stop the agent', async () => {
    if (child.exitCode === null) {
      process.kill(-child.pid!, 'SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
  const sock = join(env.runDir, 'nkitd.sock');
  const up = await waitFor(() => existsSync(sock) || child.exitCode !== null, { timeoutMs: 20_000 });
  if (!up || !existsSync(sock)) throw new Error(`nkit agent did not start: ${err}`);
}
