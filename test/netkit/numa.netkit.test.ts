// NUMA placement on netkit in a VM with two NUMA nodes (qemu -numa, one CPU
// each): a container pinned to CPU 1 lands on node 1; one spanning both
// nodes uses every CPU. Queue counts and XPS/RPS masks are read back from
// the kernel on both sides and equal the plan.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runOk } from '../lib/exec';
import { fakeContainer, runHook } from '../lib/hookrun';
import { ipLink } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { CLI, leftovers, nkitEnv } from '../lib/nkit';
import { netkitSkipReason } from './netkit-skip';

const twoNodes = (): string | false => {
  const reason = netkitSkipReason();
  if (reason) return reason;
  let nodes = 0;
  try {
    nodes = readFileSync('/sys/devices/system/node/online', 'utf8').trim() === '0-1' ? 2 : 1;
  } catch {
    nodes = 1;
  }
  if (nodes === 2) return false;
  if (process.env.NKIT_REQUIRE_NETKIT === '1') throw new Error('the VM was expected to have 2 NUMA nodes (vm-run --numa 2)');
  return 'needs 2 NUMA nodes (the VM suite starts qemu with -numa)';
};
const sysfsIn = async (ns: string, file: string) => (await runOk(['ip', 'netns', 'exec', ns, 'cat', `/sys/class/net/${file}`])).stdout.trim();

t.test('pinned to node 1, and spanning both nodes', { skip: twoNodes() }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { datapath: 'netkit', policy: 'allow-all' });
  for (const [cpus, node, rps] of [['1', 1, '2'], ['0-1', null, '3']] as const) {
    const id = `nk-numa-${cpus}`;
    const c = await fakeContainer(t, id, { cpus });
    const plan = JSON.parse((await runOk([CLI, '--config', env.configPath, 'numa', '--cpus', cpus, '--json'])).stdout);
    t.equal(plan.node, node, `cpuset ${cpus}: nkit numa plans node ${node}`);
    const r = await runHook(t, env, host.name, 'createRuntime', c.state());
    t.equal(r.code, 0, `setup (${r.stderr.trim()})`);
    const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', `${id}.json`), 'utf8'));
    t.match(rec.numa, { node, rps, applied: true }, `cpuset ${cpus}: recorded node ${node}, rps ${rps}`);
    for (const [ns, dev, side] of [[host.name, rec.primary.name as string, 'host'], [c.netns.name, 'eth0', 'container']] as const) {
      const link = await ipLink(dev, { netns: ns });
      t.equal(link?.linkinfo?.info_kind, 'netkit');
      t.equal(link?.num_tx_queues, rec.numa.queues, `${side}: ${rec.numa.queues} queues`);
      t.equal(await sysfsIn(ns, `${dev}/queues/rx-0/rps_cpus`), rps, `${side}: rps_cpus ${rps}`);
      if (rec.numa.queues > 1) {
        for (let i = 0; i < rec.numa.queues; i++) t.equal(await sysfsIn(ns, `${dev}/queues/tx-${i}/xps_cpus`), rec.numa.xps[i], `${side}: tx-${i} xps ${rec.numa.xps[i]}`);
      }
    }
    t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
  }
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
});
