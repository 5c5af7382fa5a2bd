// Running nkit-oci-hook without a runtime: the test plays the runtime. A
// "container" is a netns the test made, named in a bundle's config.json (as
// a runtime passes a pre-made netns), and the hook runs in a test host netns.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type RunResult } from './exec';
import { createNetns, hostMountsArgv, type Netns } from './netns';
import { HOOK, type NkitTestEnv } from './nkit';
import { tempDir, type Scope } from './scope';

export interface FakeContainer {
  id: string;
  netns: Netns;
  bundle: string;
  /** The OCI state a runtime would send at `status`. */
  state(status?: 'creating' | 'created' | 'stopped'): Record<string, unknown>;
}

// A container netns and a bundle whose config.json points at it.
export async function fakeContainer(
  scope: Scope,
  id: string,
  o: { annotations?: Record<string, string>; bundleConfig?: Record<string, unknown>; cpus?: string } = {},
): Promise<FakeContainer> {
  const netns = await createNetns(scope, { prefix: 'nkc' });
  const bundle = await tempDir(scope, 'nkt-fake-bundle-');
  const cfg = o.bundleConfig ?? {
    ociVersion: '1.0.2',
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network', path: netns.path }],
      ...(o.cpus ? { resources: { cpu: { cpus: o.cpus } } } : {}),
    },
    ...(o.annotations ? { annotations: o.annotations } : {}),
  };
  await writeFile(join(bundle, 'config.json'), JSON.stringify(cfg));
  return {
    id,
    netns,
    bundle,
    state: (status = 'creating') => ({ ociVersion: '1.0.2-dev', id, status, pid: process.pid, bundle }),
  };
}

// Runs the hook at `stage` in the host netns with `input` on stdin.
export async function runHook(
  scope: Scope,
  env: NkitTestEnv,
  hostNetns: string,
  stage: string,
  input: string | Record<string, unknown>,
  o: { extraEnv?: Record<string, string>; args?: string[] } = {},
): Promise<RunResult> {
  const scratch = await tempDir(scope, 'nkt-mnt-');
  await mkdir(scratch, { recursive: true });
  const argv = hostMountsArgv([HOOK, ...(o.args ?? ['--config', env.configPath, stage])], { netns: hostNetns, scratchDir: scratch });
  return run(argv, {
    input: typeof input === 'string' ? input : JSON.stringify(input),
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...(o.extraEnv ?? {}) },
    timeoutMs: 60_000,
  });
}
