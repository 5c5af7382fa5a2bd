// On netkit (the VM): between the device's creation and the policy's
// attach, not one packet passes. A process in the container's namespace
// floods UDP at the host before, during and after setup under deny-all; the
// host receives nothing; after `nkit policy apply allow-all` it does.
import t from 'tap';
import { run } from '../lib/exec';
import { hostListener, netnsFlood } from '../lib/flood';
import { fakeContainer, runHook } from '../lib/hookrun';
import { createNetns } from '../lib/netns';
import { CLI, leftovers, nkitEnv } from '../lib/nkit';
import { waitFor } from '../lib/wait';
import { netkitSkipReason } from './netkit-skip';

t.test('no packet passes before the policy (netkit)', { skip: netkitSkipReason() }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { datapath: 'netkit', policy: 'deny-all' });
  const c = await fakeContainer(t, 'nk-window');
  const listener = await hostListener(t, host.name, 9999);
  const flood = netnsFlood(t, c.netns.path, '10.213.0.1', 9999);
  await new Promise((r) => setTimeout(r, 500));
  const setup = await runHook(t, env, host.name, 'createRuntime', c.state());
  t.equal(setup.code, 0, 'setup under the flood', { stderr: setup.stderr, timedOut: setup.timedOut, ms: setup.durationMs });
  await new Promise((r) => setTimeout(r, 2000));
  const sent = await flood.sent();
  t.ok(sent > 0, `the flood sent ${sent} datagrams once it could`);
  t.equal(await listener.received(), 0, 'the host received none of them');
  t.equal((await run(['nsenter', `--net=/run/netns/${host.name}`, CLI, '--config', env.configPath, 'policy', 'apply', 'nk-window', 'allow-all'], { timeoutMs: 120_000 })).code, 0);
  t.ok(await waitFor(async () => (await listener.received()) > 0, { timeoutMs: 30_000, intervalMs: 500 }), 'with allow-all the flood arrives');
  await flood.stop();
  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
});
