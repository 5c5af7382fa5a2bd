// NUMA-local queue settings on this host (veth+tcx): the devices get the
// planned queue count, and the XPS/RPS masks read back from sysfs inside and
// outside the container's namespace equal the plan `nkit numa` prints.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { run, runOk } from '../lib/exec';
import { fakeContainer, runHook } from '../lib/hookrun';
import { ipLink } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { CLI, leftovers, nkitEnv } from '../lib/nkit';
import { rootSkipReason } from '../lib/skip';

const skip = rootSkipReason();
const sysfsMounts = (): number => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => / - sysfs /.test(l)).length;
const sysfsIn = async (ns: string, file: string) => (await runOk(['ip', 'netns', 'exec', ns, 'cat', `/sys/class/net/${file}`])).stdout.trim();

t.test('queues and masks on both sides equal the plan', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const plan = JSON.parse((await runOk([CLI, '--config', env.configPath, 'numa', '--json'])).stdout);
  t.ok(plan.queues >= 1, `plan: ${plan.queues} queues on node ${plan.node}: ${plan.reason}`);
  const c = await fakeContainer(t, 'kt-numa');
  const sysfsBefore = sysfsMounts();
  const r = await runHook(t, env, host.name, 'createRuntime', c.state());
  t.equal(r.code, 0, `setup (${r.stderr.trim()})`);
  const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', 'kt-numa.json'), 'utf8'));
  t.match(rec.numa, { queues: plan.queues, xps: plan.xps, rps: plan.rps, node: plan.node, applied: true }, 'the record has the plan, applied');
  const dev = rec.primary.name as string;
  for (const [ns, name, side] of [[host.name, dev, 'host'], [c.netns.name, 'eth0', 'container']] as const) {
    const link = await ipLink(name, { netns: ns });
    t.equal(link?.num_tx_queues, plan.queues, `${side}: ${plan.queues} TX queues`);
    t.equal(link?.num_rx_queues, plan.queues, `${side}: ${plan.queues} RX queues`);
    for (let i = 0; i < plan.queues; i++) {
      t.equal(await sysfsIn(ns, `${name}/queues/rx-${i}/rps_cpus`), plan.rps, `${side}: rx-${i} rps_cpus = ${plan.rps}`);
      if (plan.queues > 1) t.equal(await sysfsIn(ns, `${name}/queues/tx-${i}/xps_cpus`), plan.xps[i], `${side}: tx-${i} xps_cpus = ${plan.xps[i]}`);
    }
  }
  const status = JSON.parse((await runOk([CLI, '--config', env.configPath, 'status', '--json'])).stdout);
  t.match(status[0].numa, { node: plan.node, queues: plan.queues }, 'status shows the node and queues');
  t.equal(sysfsMounts(), sysfsBefore, 'no sysfs mount left behind by the writes');
  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
});

t.test('queues from the config; numa off leaves the masks alone', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all', extra: { numa: 'off', queues: 3 } });
  const c = await fakeContainer(t, 'kt-numa-off');
  t.equal((await runHook(t, env, host.name, 'createRuntime', c.state())).code, 0);
  const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', 'kt-numa-off.json'), 'utf8'));
  t.equal((await ipLink('eth0', { netns: c.netns.name }))?.num_tx_queues, 3, 'three queues');
  t.equal(await sysfsIn(c.netns.name, 'eth0/queues/rx-0/rps_cpus'), '0', 'rps untouched (kernel default 0)');
  t.equal(rec.numa.rps, null);
  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
  const bad = await nkitEnv(t, { extra: { numa: 9 } });
  const c2 = await fakeContainer(t, 'kt-numa-bad');
  const r = await runHook(t, bad, host.name, 'createRuntime', c2.state());
  t.equal(r.code, 1, 'a node that does not exist fails the container');
  t.match(r.stderr, /node 9/);
  t.same(await leftovers(bad, host.name), { devices: [], routes: [], files: [], pins: [] }, 'nothing created');
  void run;
});
