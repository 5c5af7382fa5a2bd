// The hook on the real kernel without a runtime: setup in a container netns
// the test made, read back with iproute2 and bpftool, then teardown, which
// is idempotent; createRuntime followed by prestart sets up once.
import t from 'tap';
import { bpftoolNet, containerPins, ipAddrs, ipLink, ipRoutes } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { fakeContainer, runHook } from '../lib/hookrun';
import { leftovers, nkitEnv } from '../lib/nkit';
import { rootSkipReason } from '../lib/skip';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

t.test('setup, second stage no-op, teardown twice', { skip: rootSkipReason() }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const c = await fakeContainer(t, 'kt-setup-1');

  const r1 = await runHook(t, env, host.name, 'createRuntime', c.state());
  t.equal(r1.code, 0, `createRuntime exit 0 (${r1.stderr.trim()})`);
  t.equal(r1.stderr, '', 'nothing on stderr on success');
  const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', 'kt-setup-1.json'), 'utf8'));
  const r2 = await runHook(t, env, host.name, 'prestart', c.state());
  t.equal(r2.code, 0, 'prestart exit 0');
  const rec2 = JSON.parse(readFileSync(join(env.runDir, 'containers', 'kt-setup-1.json'), 'utf8'));
  t.equal(rec2.primary.ifindex, rec.primary.ifindex, 'prestart did not recreate the device');

  const eth0 = (await ipAddrs({ netns: c.netns.name, dev: 'eth0' }))[0];
  t.ok(eth0, 'eth0 exists in the container netns');
  t.ok(eth0?.flags.includes('UP'), 'eth0 is up');
  t.same(eth0?.addr_info.filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`).sort(), ['10.213.0.2/24', 'fd6e:6b69:74::2/64']);
  const cr4 = await ipRoutes({ netns: c.netns.name, family: 4 });
  t.ok(cr4.some((r) => r.dst === 'default' && r.dev === 'eth0' && !r.gateway), 'container: default dev eth0 (v4)');
  const cr6 = await ipRoutes({ netns: c.netns.name, family: 6 });
  t.ok(cr6.some((r) => r.dst === 'default' && r.dev === 'eth0' && !r.gateway), 'container: default dev eth0 (v6)');

  const dev = rec.primary.name as string;
  const link = await ipLink(dev, { netns: host.name });
  t.equal(link?.mtu, 1500, 'MTU from the network config');
  const hostAddrs = (await ipAddrs({ netns: host.name, dev }))[0]?.addr_info.filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`).sort();
  t.same(hostAddrs, ['10.213.0.1/32', 'fd6e:6b69:74::1/128'], 'host side carries the network\'s first addresses');
  const net = await bpftoolNet(dev, { netns: host.name });
  t.match(JSON.stringify(net), /tcx\/ingress[\s\S]*nkit_egress|nkit_egress[\s\S]*ingress/, 'tcx ingress runs the egress program');

  const d1 = await runHook(t, env, host.name, 'poststop', c.state('stopped'));
  t.equal(d1.code, 0, 'poststop exit 0');
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] }, 'nothing left');
  t.same((await ipLink('eth0', { netns: c.netns.name })), undefined, 'eth0 gone from the container netns');
  const d2 = await runHook(t, env, host.name, 'poststop', c.state('stopped'));
  t.equal(d2.code, 0, 'second poststop exit 0');
  const d3 = await runHook(t, env, host.name, 'poststop', { ociVersion: '1.0.2', id: 'never-seen', status: 'stopped', bundle: '/nonexistent' });
  t.equal(d3.code, 0, 'poststop of an unknown id exit 0');
  t.same(await containerPins(env.bpffsDir), [], 'no pins');
});
