// Races: 50 containers started at once through runc all get unique
// addresses and leave nothing; two setups of one id: one wins, the other
// fails cleanly; a teardown racing a setup of the same id ends in a
// consistent state that one more poststop clears.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createBundle } from '../lib/bundle';
import { fakeContainer, runHook } from '../lib/hookrun';
import { createNetns } from '../lib/netns';
import { leftovers, nkitEnv } from '../lib/nkit';
import { runtimeRun, runtimeSkipReason } from '../lib/runtime';
import { rootSkipReason } from '../lib/skip';
import { waitFor } from '../lib/wait';

const NOTHING = { devices: [], routes: [], files: [], pins: [] };

t.test('50 containers at once through runc', { skip: runtimeSkipReason('runc') }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const n = 50;
  // All alive at once (each waits for /go), so no address can be reused.
  const script = 'ip -o -4 addr show dev eth0; ip -o -6 addr show dev eth0 scope global; touch /ready; i=0; while [ ! -f /go ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done';
  const bundles = await Promise.all(Array.from({ length: n }, () =>
    createBundle(t, { runtime: 'runc', args: ['sh', '-c', script], hooks: env.hooks(['createRuntime', 'poststop']) })));
  const running = bundles.map((b, i) => runtimeRun({ runtime: 'runc', bundle: b.dir, id: `burst-${i}`, hostNetns: host.name, timeoutMs: 300_000 }));
  t.ok(await waitFor(() => bundles.every((b) => existsSync(join(b.rootfs, 'ready'))), { timeoutMs: 240_000, intervalMs: 200 }), 'all 50 running at once');
  for (const b of bundles) writeFileSync(join(b.rootfs, 'go'), '');
  const results = await Promise.all(running);
  const failed = results.map((r, i) => [i, r] as const).filter(([, r]) => r.code !== 0);
  t.same(failed.map(([i, r]) => `${i}: ${r.stderr.trim()}`), [], 'every container started and exited 0');
  const v4 = results.map((r) => /inet (10\.213\.0\.\d+)\//.exec(r.stdout)?.[1]);
  const v6 = results.map((r) => /inet6 (fd6e:6b69:74::[0-9a-f]+)\//.exec(r.stdout)?.[1]);
  t.equal(new Set(v4.filter(Boolean)).size, n, '50 distinct IPv4 addresses');
  t.equal(new Set(v6.filter(Boolean)).size, n, '50 distinct IPv6 addresses');
  t.same(await leftovers(env, host.name), NOTHING, 'after they exit nothing is left');
});

t.test('two setups of one id at once: one wins, the other fails cleanly', { skip: rootSkipReason() }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const a = await fakeContainer(t, 'kt-twice');
  const b = await fakeContainer(t, 'kt-twice');
  const [ra, rb] = await Promise.all([runHook(t, env, host.name, 'createRuntime', a.state()), runHook(t, env, host.name, 'createRuntime', b.state())]);
  t.same([ra.code, rb.code].sort(), [0, 1], 'exactly one succeeded');
  const loser = ra.code === 0 ? rb : ra;
  t.match(loser.stderr, /already has a network in another live namespace/, 'the other says why');
  const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', 'kt-twice.json'), 'utf8'));
  const winner = ra.code === 0 ? a : b;
  t.equal(rec.netns.path, winner.netns.path, 'the record is the winner\'s');
  t.equal(rec.state, 'ready');
  t.equal((await runHook(t, env, host.name, 'poststop', winner.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), NOTHING);
});

t.test('a teardown racing a setup of the same id', { skip: rootSkipReason() }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  for (let round = 0; round < 3; round++) {
    const c = await fakeContainer(t, `kt-race-${round}`);
    const [rs, rt] = await Promise.all([runHook(t, env, host.name, 'createRuntime', c.state()), runHook(t, env, host.name, 'poststop', c.state('stopped'))]);
    t.equal(rs.code, 0, `round ${round}: setup exit 0`);
    t.equal(rt.code, 0, `round ${round}: teardown exit 0`);
    const rec = join(env.runDir, 'containers', `kt-race-${round}.json`);
    if (existsSync(rec)) t.equal(JSON.parse(readFileSync(rec, 'utf8')).state, 'ready', 'teardown ran first (nothing to do), then a complete setup');
    else t.same(await leftovers(env, host.name), NOTHING, 'setup ran first, then a complete teardown: nothing at all');
    t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
    t.same(await leftovers(env, host.name), NOTHING, `round ${round}: one more poststop clears it`);
  }
});
