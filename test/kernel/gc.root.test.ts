// nkit gc on the real kernel: gone containers are torn down from their
// records, a live one is never touched (also mid-setup), objects no record
// names are removed, stale pins after a lost runDir do not trip a new setup,
// and forwarding goes back to what it was when the last container goes.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { slotOwner } from '../../src/bpf/program';
import { closeShared, openSharedPins } from '../../src/bpf/shared';
import { run, runOk } from '../lib/exec';
import { fakeContainer, runHook } from '../lib/hookrun';
import { ipLink, listFiles } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { CLI, leftovers, nkitEnv, PINS, type NkitTestEnv } from '../lib/nkit';
import { rootSkipReason } from '../lib/skip';

const skip = rootSkipReason();
const NOTHING = { devices: [], routes: [], files: [], pins: [] };
const record = (env: NkitTestEnv, id: string) => JSON.parse(readFileSync(join(env.runDir, 'containers', `${id}.json`), 'utf8'));
t.test('gone containers are collected, live ones kept', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const a = await fakeContainer(t, 'kt-gc-live');
  const b = await fakeContainer(t, 'kt-gc-gone');
  for (const c of [a, b]) t.equal((await runHook(t, env, host.name, 'createRuntime', c.state())).code, 0);
  const recA = record(env, 'kt-gc-live');
  await b.netns.remove();
  const r = await runCli(env, host.name, ['gc']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /removed kt-gc-gone: lease 10\.213\.0\.3/, 'the gone container\'s lease');
  t.match(r.stdout, /1 live container\(s\) kept/);
  t.notOk(existsSync(join(env.runDir, 'containers', 'kt-gc-gone.json')), 'its record is gone');
  t.ok(await ipLink(recA.primary.name, { netns: host.name }), 'the live container\'s device is untouched');
  t.same((await listFiles(join(env.bpffsDir, 'kt-gc-live'))).sort(), PINS, 'and its pins');
  const again = await runCli(env, host.name, ['gc', '--json']);
  t.same(JSON.parse(again.stdout).removed, [], 'a second gc finds nothing');
  t.equal((await runHook(t, env, host.name, 'poststop', a.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), NOTHING);
});

t.test('a setup killed half-way: kept while the container lives, collected after', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const c = await fakeContainer(t, 'kt-gc-killed');
  const r = await runHook(t, env, host.name, 'createRuntime', c.state(), { extraEnv: { NKIT_FAULT: 'after-attach' } });
  t.equal(r.signal ?? (r.code === 137 ? 'SIGKILL' : r.code), 'SIGKILL', 'the hook died');
  t.equal(record(env, 'kt-gc-killed').state, 'creating', 'its record says creating');
  const kept = await runCli(env, host.name, ['gc', '--json']);
  t.same(JSON.parse(kept.stdout).removed, [], 'nothing removed while the container\'s namespace lives');
  await c.netns.remove();
  const r2 = await runCli(env, host.name, ['gc']);
  t.equal(r2.code, 0);
  t.same(await leftovers(env, host.name), NOTHING, 'gc removed what the killed setup made');
});

t.test('objects no record names: device (by alias), pins, leases', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const c = await fakeContainer(t, 'kt-gc-orphan');
  t.equal((await runHook(t, env, host.name, 'createRuntime', c.state())).code, 0);
  const dev = record(env, 'kt-gc-orphan').primary.name;
  rmSync(join(env.runDir, 'containers', 'kt-gc-orphan.json'));
  const r = await runCli(env, host.name, ['gc', '--dry-run']);
  t.match(r.stdout, new RegExp(`would remove device ${dev} \\(kt-gc-orphan\\)`), 'dry run names the device');
  t.ok(await ipLink(dev, { netns: host.name }), 'dry run removed nothing');
  const r2 = await runCli(env, host.name, ['gc']);
  t.match(r2.stdout, /removed pins/);
  t.match(r2.stdout, /removed lease 10\.213\.0\.2 \(kt-gc-orphan\)/);
  t.same(await leftovers(env, host.name), NOTHING);
});

t.test('slots whose device is gone, shared programs of another build', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const a = await fakeContainer(t, 'kt-gc-slot-live');
  const b = await fakeContainer(t, 'kt-gc-slot-lost');
  for (const c of [a, b]) t.equal((await runHook(t, env, host.name, 'createRuntime', c.state())).code, 0);
  const recA = record(env, 'kt-gc-slot-live');
  const recB = record(env, 'kt-gc-slot-lost');
  // b's record is lost and its namespace goes: the device goes with it, its maps stay in its slot.
  rmSync(join(env.runDir, 'containers', 'kt-gc-slot-lost.json'));
  await b.netns.remove();
  const other = join(env.bpffsDir, '_prog_0123456789ab');
  mkdirSync(other);
  const shared = openSharedPins(recA.bpf.shared)!;
  t.teardown(() => closeShared(shared));
  t.ok(slotOwner(shared.slots, recB.bpf.slot), 'b\'s slot is still full before gc');
  const r = await runCli(env, host.name, ['gc']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`removed slot ${recB.bpf.slot} in _prog_\\w+ \\(no device at ifindex ${recB.primary.ifindex}\\)`), 'gc names the slot');
  t.match(r.stdout, /removed pins _prog_0123456789ab \(programs of another nkit build, unused\)/);
  t.equal(slotOwner(shared.slots, recB.bpf.slot), undefined, 'b\'s slot is empty');
  t.ok(slotOwner(shared.slots, recA.bpf.slot), 'a\'s slot untouched');
  t.notOk(existsSync(other), 'the other build\'s directory is gone');
  t.ok(existsSync(recA.bpf.shared), 'the programs a runs stay');
  t.equal((await runHook(t, env, host.name, 'poststop', a.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), NOTHING);
});

t.test('stale pins after a lost runDir; forwarding restored by the last teardown', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const fwd = async () => (await runOk(['ip', 'netns', 'exec', host.name, 'cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim();
  t.equal(await fwd(), '0', 'a fresh namespace does not forward');
  const c = await fakeContainer(t, 'kt-gc-reboot');
  t.equal((await runHook(t, env, host.name, 'createRuntime', c.state())).code, 0);
  t.equal(await fwd(), '1', 'setup enabled forwarding');
  // "Reboot": /run is lost (and the device with the namespace), bpffs kept.
  await c.netns.remove();
  rmSync(env.runDir, { recursive: true, force: true });
  t.ok((await listFiles(join(env.bpffsDir, 'kt-gc-reboot'))).length > 0, 'stale pins remain');
  const c2 = await fakeContainer(t, 'kt-gc-reboot');
  const r = await runHook(t, env, host.name, 'createRuntime', c2.state());
  t.equal(r.code, 0, `a new setup with the same id does not trip on them (${r.stderr.trim()})`);
  t.equal((await runHook(t, env, host.name, 'poststop', c2.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), NOTHING);
  // host-sysctls.json went with the lost runDir; a run that kept it restores:
  const c3 = await fakeContainer(t, 'kt-gc-fwd');
  await runOk(['ip', 'netns', 'exec', host.name, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward']);
  t.equal((await runHook(t, env, host.name, 'createRuntime', c3.state())).code, 0);
  t.equal(await fwd(), '1');
  t.equal((await runHook(t, env, host.name, 'poststop', c3.state('stopped'))).code, 0);
  t.equal(await fwd(), '0', 'the last teardown put forwarding back');
});

// The CLI inside the test's host netns, where the hooks run.
function runCli(env: NkitTestEnv, host: string, args: string[]) {
  return run(['nsenter', `--net=/run/netns/${host}`, CLI, '--config', env.configPath, ...args], { timeoutMs: 60_000 });
}
