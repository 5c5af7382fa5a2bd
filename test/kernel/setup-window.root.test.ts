// Between the device's creation and the policy's attach, not one packet
// passes: a process in the container's namespace floods UDP at the host
// address before, during and after setup under deny-all, and a listener on
// the host receives nothing; after `nkit policy apply allow-all` the same
// flood arrives (so the listener and the flood do work).
import t from 'tap';
import { run } from '../lib/exec';
import { fakeContainer, runHook } from '../lib/hookrun';
import { createNetns } from '../lib/netns';
import { CLI, leftovers, nkitEnv } from '../lib/nkit';
import { rootSkipReason } from '../lib/skip';
import { waitFor } from '../lib/wait';
import { netnsFlood, hostListener } from '../lib/flood';

t.test('no packet passes before the policy', { skip: rootSkipReason() }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'deny-all' });
  const c = await fakeContainer(t, 'kt-window');
  const listener = await hostListener(t, host.name, 9999);
  const flood = netnsFlood(t, c.netns.path, '10.213.0.1', 9999);
  await new Promise((r) => setTimeout(r, 300)); // flooding before the device exists
  const r = await runHook(t, env, host.name, 'createRuntime', c.state());
  t.equal(r.code, 0, 'setup under the flood');
  await new Promise((r) => setTimeout(r, 1000)); // and after
  const sent = await flood.sent();
  t.ok(sent > 0, `the flood sent ${sent} datagrams once it could`);
  t.equal(await listener.received(), 0, 'the host received none of them');
  t.equal((await run(['nsenter', `--net=/run/netns/${host.name}`, CLI, '--config', env.configPath, 'policy', 'apply', 'kt-window', 'allow-all'])).code, 0);
  t.ok(await waitFor(async () => (await listener.received()) > 0, { timeoutMs: 10_000 }), 'with allow-all the flood arrives: the check above could fail');
  await flood.stop();
  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
});
