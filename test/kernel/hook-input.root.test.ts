// Bad input to the hook: each case gets a clear one-line error, a non-zero
// exit, and leaves nothing behind (no device, route, lease, pin or record).
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { fakeContainer, runHook } from '../lib/hookrun';
import { ipAddrs } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { leftovers, nkitEnv, type NkitTestEnv } from '../lib/nkit';
import { rootSkipReason } from '../lib/skip';

const NOTHING = { devices: [], routes: [], files: [], pins: [] };
const skip = rootSkipReason();

async function expectFailure(
  t: Test,
  env: NkitTestEnv,
  host: string,
  stage: string,
  input: string | Record<string, unknown>,
  stderrRe: RegExp,
  code = 1,
): Promise<void> {
  const r = await runHook(t, env, host, stage, input);
  t.equal(r.code, code, `exit ${code}`);
  t.match(r.stderr, stderrRe, 'stderr says what failed');
  t.equal(r.stderr.trim().split('\n').length, 1, `one stderr line: ${r.stderr.trim()}`);
  t.same(await leftovers(env, host), NOTHING, 'nothing left');
}

t.test('malformed, truncated and empty state', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const c = await fakeContainer(t, 'kt-bad-json');
  const whole = JSON.stringify(c.state());
  await expectFailure(t, env, host.name, 'createRuntime', '{"ociVersion": "1.0", "id": ', /createRuntime failed: OCI state on stdin: malformed JSON/);
  await expectFailure(t, env, host.name, 'createRuntime', whole.slice(0, whole.length - 7), /malformed JSON/);
  await expectFailure(t, env, host.name, 'createRuntime', '', /empty input/);
  await expectFailure(t, env, host.name, 'createRuntime', '[1,2]', /OCI state on stdin: .*must be object/);
  await expectFailure(t, env, host.name, 'createRuntime', { ...c.state(), status: 'paused' }, /"status" must be one of/);
  await expectFailure(t, env, host.name, 'createRuntime', { ...c.state(), pid: 'x' }, /"pid" must be integer/);
});

t.test('container ids that could name a path or a device are refused', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const c = await fakeContainer(t, 'kt-ids');
  for (const id of ['a/b', '..', '../../etc/x', 'a b', 'x'.repeat(1000), '-rf', '']) {
    const re = id === '' ? /"id" must NOT have fewer than 1 characters/ : /invalid container id/;
    await expectFailure(t, env, host.name, 'createRuntime', { ...c.state(), id }, re);
  }
});

t.test('missing pid, exited pid, shared host netns', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const own = await fakeContainer(t, 'kt-pid', { bundleConfig: { linux: { namespaces: [{ type: 'network' }] } } });
  const { pid: _drop, ...noPid } = own.state();
  await expectFailure(t, env, host.name, 'createRuntime', noPid, /for container kt-pid: the OCI state has no pid/);
  const gone = spawnSync('true');
  await expectFailure(t, env, host.name, 'createRuntime', { ...own.state(), pid: gone.pid }, new RegExp(`process ${gone.pid} has exited`));
  const shared = await fakeContainer(t, 'kt-shared', { bundleConfig: { linux: { namespaces: [{ type: 'pid' }] } } });
  await expectFailure(t, env, host.name, 'createRuntime', shared.state(), /shares the runtime's network namespace/);
});

t.test('unknown stage is a usage error; other spec stages do nothing', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const c = await fakeContainer(t, 'kt-stage');
  await expectFailure(t, env, host.name, 'bogus', c.state(), /unknown stage "bogus"/, 2);
  for (const stage of ['createContainer', 'startContainer', 'poststart']) {
    const r = await runHook(t, env, host.name, stage, c.state());
    t.equal(r.code, 0, `${stage} exits 0`);
    t.same(await leftovers(env, host.name), NOTHING, `${stage} did nothing`);
  }
});

t.test('a config with a wrong type names the key', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const c = await fakeContainer(t, 'kt-cfg');
  await writeFile(env.configPath, JSON.stringify({ ...env.config, networks: { default: { subnets: ['10.213.0.0/24'], mtu: 'big' } } }));
  await expectFailure(t, env, host.name, 'createRuntime', c.state(), /"networks\.default\.mtu" must be integer/);
  await writeFile(env.configPath, JSON.stringify({ ...env.config, datapth: 'veth' }));
  await expectFailure(t, env, host.name, 'createRuntime', c.state(), /unknown key "datapth"/);
});

t.test('an exhausted subnet fails the new container only', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { subnets: ['10.213.0.0/30', 'fd6e:6b69:74::/64'] });
  const a = await fakeContainer(t, 'kt-full-a');
  const b = await fakeContainer(t, 'kt-full-b');
  const ra = await runHook(t, env, host.name, 'createRuntime', a.state());
  t.equal(ra.code, 0, 'first container gets the only address');
  const before = await leftovers(env, host.name);
  const rb = await runHook(t, env, host.name, 'createRuntime', b.state());
  t.equal(rb.code, 1, 'second fails');
  t.match(rb.stderr, /for container kt-full-b: no free IPv4 address in 10\.213\.0\.0\/30/);
  t.same(await leftovers(env, host.name), before, 'nothing of the second container left; the first is intact');
  t.same(await ipAddrs({ netns: b.netns.name, dev: 'eth0' }).catch(() => []), [], 'no eth0 in the second container');
  t.equal((await runHook(t, env, host.name, 'poststop', a.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), NOTHING, 'nothing left after the first stops');
});

t.test('a duplicate setup for the same id in another live netns is refused', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const a = await fakeContainer(t, 'kt-dup');
  const b = await fakeContainer(t, 'kt-dup');
  t.equal((await runHook(t, env, host.name, 'createRuntime', a.state())).code, 0);
  const before = await leftovers(env, host.name);
  const r = await runHook(t, env, host.name, 'createRuntime', b.state());
  t.equal(r.code, 1, 'second setup fails');
  t.match(r.stderr, /for container kt-dup: .*already has a network in another live namespace/);
  t.same(await leftovers(env, host.name), before, 'the first container is untouched');
  t.equal((await runHook(t, env, host.name, 'poststop', a.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), NOTHING);
});

t.test('a failure at any step rolls back everything', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const c = await fakeContainer(t, 'kt-fault');
  for (const point of ['after-record', 'after-ipam', 'after-link', 'after-bpf-load', 'after-attach', 'after-addresses', 'after-ready']) {
    const r = await runHook(t, env, host.name, 'createRuntime', c.state(), { extraEnv: { NKIT_FAULT: `fail:${point}` } });
    t.equal(r.code, 1, `fail:${point} exits 1`);
    t.match(r.stderr, new RegExp(`injected failure at ${point}`));
    t.same(await leftovers(env, host.name), NOTHING, `nothing left after a failure ${point}`);
    t.same(await ipAddrs({ netns: c.netns.name, dev: 'eth0' }).catch(() => []), [], 'no eth0 in the container');
  }
  const ok = await runHook(t, env, host.name, 'createRuntime', c.state());
  t.equal(ok.code, 0, 'a retry with the same id succeeds');
  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
});
