// End to end with real Podman (Debian's 4.3.1) and nkit's shipped hooks.d
// files (packaging/hooks.d, pointed at this checkout and a test config):
// `podman run --rm --network=none --hooks-dir DIR --annotation
// org.nkit.network=default --rootfs ROOTFS` gets nkit's eth0, the policy
// holds, and after exit nothing is left; a container without the annotation
// is untouched; the "always" variant wires every container. Without
// --hooks-dir, Podman's built-in default reads /usr/share/containers/oci/hooks.d
// and not /etc/containers/oci/hooks.d (what `nkit doctor` assumes). A
// detached container loses its network when it exits, not when removed.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { checkClean, checkReport, checkUntouched, checkWiredWhileRunning, recordIds, REPORT_SCRIPT, waitReady } from '../lib/engine-checks';
import { engineHost } from '../lib/engine-host';
import { testHooksDir } from '../lib/hooksd';
import { run } from '../lib/exec';
import { leftovers, nkitEnv, type NkitTestEnv } from '../lib/nkit';
import { copyWithHooks, podmanArgv, podmanDirs, podmanRun, podmanRunArgv, podmanSkipReason } from '../lib/podman';
import { buildRootfs } from '../lib/rootfs';
import { tempDir } from '../lib/scope';
import { waitFor } from '../lib/wait';

const skip = podmanSkipReason();
const NETWORK = { 'org.nkit.network': 'default' };

for (const policy of ['allow-all', 'deny-all'] as const) {
  t.test(`podman: annotated container, ${policy}: nkit's eth0, the policy, clean teardown`, { skip }, async (t) => {
    const env = await nkitEnv(t, { policy });
    const host = await engineHost(t, 'podman');
    const hooksDir = await testHooksDir(t, env, 'annotation');
    const rootfs = await buildRootfs(join(await tempDir(t, 'nkt-rootfs-'), 'rootfs'));
    // Podman 4.3.1's default capabilities lack NET_RAW, which busybox ping needs.
    const running = podmanRun(host, { rootfs, hooksDir, annotations: NETWORK, capAdd: ['NET_RAW'], args: ['sh', '-c', REPORT_SCRIPT], timeoutMs: 90_000 });

    const ready = await waitReady(rootfs);
    t.ok(ready, 'container reported ready');
    if (ready) {
      const id = await checkWiredWhileRunning(t, env, host.netns.name);
      t.match(id ?? '', /^[0-9a-f]{64}$/, "keyed by podman's 64-hex container id");
    }
    writeFileSync(join(rootfs, 'go'), '');
    const r = await running;
    t.equal(r.code, 0, `podman exit 0 (stderr: ${r.stderr.trim()})`);
    checkReport(t, r.stdout, policy);
    await checkClean(t, env, host.netns.name);
  });
}

// A container started without the annotation, under one hooks.d variant:
// `whileRunning` looks at the host, `afterExit` at what the container saw.
async function unannotated(
  t: Test,
  variant: 'annotation' | 'always',
  whileRunning: (env: NkitTestEnv, netns: string) => Promise<unknown>,
  afterExit: (stdout: string) => void,
): Promise<void> {
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const host = await engineHost(t, 'podman');
  const hooksDir = await testHooksDir(t, env, variant);
  const rootfs = await buildRootfs(join(await tempDir(t, 'nkt-rootfs-'), 'rootfs'));
  const running = podmanRun(host, { rootfs, hooksDir, capAdd: ['NET_RAW'], args: ['sh', '-c', REPORT_SCRIPT], timeoutMs: 90_000 });
  const ready = await waitReady(rootfs);
  t.ok(ready, 'container reported ready');
  if (ready) await whileRunning(env, host.netns.name);
  writeFileSync(join(rootfs, 'go'), '');
  const r = await running;
  t.equal(r.code, 0, `podman exit 0 (stderr: ${r.stderr.trim()})`);
  afterExit(r.stdout);
  await checkClean(t, env, host.netns.name);
}

t.test('podman: a container without the annotation is untouched', { skip }, async (t) => {
  await unannotated(t, 'annotation', (env, netns) => checkUntouched(t, env, netns), (stdout) => {
    t.notMatch(stdout, /eth0/, 'the container has no eth0');
    t.match(stdout, /PING4=fail/, 'and no way to the host');
  });
});

t.test('podman: the "always" hooks.d variant wires a container without the annotation', { skip }, async (t) => {
  await unannotated(t, 'always', (env, netns) => checkWiredWhileRunning(t, env, netns), (stdout) => checkReport(t, stdout, 'allow-all'));
});

// Podman's defaults, with the host's own config dirs replaced (for podman only)
// by copies holding the test's hooks: CONTAINERS_CONF names Debian's stock
// containers.conf (hooks_dir commented out) so a host's /etc/containers/containers.conf
// cannot change the answer.
const defaults = (dst: string) => ({ skip: skip || (existsSync(dst) ? false : `no ${dst}`) });
const STOCK_CONF = { ...process.env, CONTAINERS_CONF: '/usr/share/containers/containers.conf' };

t.test('podman without --hooks-dir: files installed in /usr/share/containers/oci/hooks.d are found', defaults('/usr/share/containers'), async (t) => {
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const share = await copyWithHooks(t, '/usr/share/containers', await testHooksDir(t, env, 'annotation'));
  const host = await engineHost(t, 'podman', { binds: [{ src: share, dst: '/usr/share/containers' }] });
  const rootfs = await buildRootfs(join(await tempDir(t, 'nkt-rootfs-'), 'rootfs'));
  const running = podmanRun(host, { rootfs, hooksDir: undefined, env: STOCK_CONF, annotations: NETWORK, capAdd: ['NET_RAW'], args: ['sh', '-c', REPORT_SCRIPT], timeoutMs: 90_000 });

  const ready = await waitReady(rootfs);
  t.ok(ready, 'container reported ready');
  if (ready) await checkWiredWhileRunning(t, env, host.netns.name);
  writeFileSync(join(rootfs, 'go'), '');
  const r = await running;
  t.equal(r.code, 0, `podman exit 0 (stderr: ${r.stderr.trim()})`);
  checkReport(t, r.stdout, 'allow-all');
  await checkClean(t, env, host.netns.name);
});

t.test('podman without --hooks-dir: files only in /etc/containers/oci/hooks.d are not read', defaults('/etc/containers'), async (t) => {
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const etc = await copyWithHooks(t, '/etc/containers', await testHooksDir(t, env, 'always'));
  const host = await engineHost(t, 'podman', { binds: [{ src: etc, dst: '/etc/containers' }] });
  const rootfs = await buildRootfs(join(await tempDir(t, 'nkt-rootfs-'), 'rootfs'));
  const running = podmanRun(host, { rootfs, hooksDir: undefined, env: STOCK_CONF, annotations: NETWORK, args: ['sh', '-c', REPORT_SCRIPT], timeoutMs: 90_000 });

  const ready = await waitReady(rootfs);
  t.ok(ready, 'container reported ready');
  if (ready) await checkUntouched(t, env, host.netns.name);
  writeFileSync(join(rootfs, 'go'), '');
  const r = await running;
  t.equal(r.code, 0, `podman exit 0 (stderr: ${r.stderr.trim()})`);
  t.notMatch(r.stdout, /eth0/, 'the container has no eth0');
  await checkClean(t, env, host.netns.name);
});

t.test('podman with hooks_dir naming /etc/containers/oci/hooks.d: the files there are found', defaults('/etc/containers'), async (t) => {
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const etc = await copyWithHooks(t, '/etc/containers', await testHooksDir(t, env, 'always'));
  const conf = join(await tempDir(t, 'nkt-conf-'), 'containers.conf');
  writeFileSync(conf, '[engine]\nhooks_dir = ["/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d"]\n');
  const host = await engineHost(t, 'podman', { binds: [{ src: etc, dst: '/etc/containers' }] });
  const rootfs = await buildRootfs(join(await tempDir(t, 'nkt-rootfs-'), 'rootfs'));
  const running = podmanRun(host, {
    rootfs, hooksDir: undefined, env: { ...process.env, CONTAINERS_CONF: conf }, capAdd: ['NET_RAW'], args: ['sh', '-c', REPORT_SCRIPT], timeoutMs: 90_000,
  });

  const ready = await waitReady(rootfs);
  t.ok(ready, 'container reported ready');
  if (ready) await checkWiredWhileRunning(t, env, host.netns.name);
  writeFileSync(join(rootfs, 'go'), '');
  const r = await running;
  t.equal(r.code, 0, `podman exit 0 (stderr: ${r.stderr.trim()})`);
  checkReport(t, r.stdout, 'allow-all');
  await checkClean(t, env, host.netns.name);
});

t.test('podman run -d: the network goes when the container exits, before podman rm', { skip }, async (t) => {
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const host = await engineHost(t, 'podman');
  const hooksDir = await testHooksDir(t, env, 'annotation');
  const rootfs = await buildRootfs(join(await tempDir(t, 'nkt-rootfs-'), 'rootfs'));
  const go = join(host.work, 'go');
  const runArgv = podmanRunArgv(host, { rootfs, hooksDir, annotations: NETWORK, detach: true, args: ['sh', '-c', 'touch /ready; while [ ! -f /exit ]; do sleep 0.1; done'] });
  // One podman session (see podmanArgv): start detached, wait for the test, remove.
  const script = `set -e; id=$("$@"); while [ ! -f ${go} ]; do sleep 0.1; done; ${podmanArgv(host, ['rm', '-f']).join(' ')} "$id"`;
  await podmanDirs(host);
  const session = run(host.argv(['sh', '-c', script, 'nkt-podman-session', ...runArgv]), { timeoutMs: 90_000, killGraceMs: 500 });

  const ready = await waitReady(rootfs);
  t.ok(ready, 'container reported ready');
  if (ready) await checkWiredWhileRunning(t, env, host.netns.name);
  writeFileSync(join(rootfs, 'exit'), '');
  // Podman runs poststop from `podman container cleanup`, which conmon starts at exit.
  const gone = await waitFor(async () => recordIds(env).length === 0 && (await leftovers(env, host.netns.name)).devices.length === 0, { timeoutMs: 20_000 });
  t.ok(gone, 'record and device gone while the exited container still exists');
  writeFileSync(go, '');
  const r = await session;
  t.equal(r.code, 0, `podman run -d / rm exit 0 (stderr: ${r.stderr.trim()})`);
  await checkClean(t, env, host.netns.name);
});
