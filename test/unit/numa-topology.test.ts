// Reading the topology from fake sysfs trees: what is there, what is missing
// (no NUMA information, never a crash), what is malformed (EINPUT).
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { readNic, readTopology, resolveUplink, validateIfName } from '../../src/numa/topology';
import { makeSysfs } from '../fixtures/sysfs/tree';

t.test('4 nodes, CPUs 10-11 offline', async (t) => {
  const s = makeSysfs({
    possible: '0-15', online: '0-9,12-15',
    nodes: { 0: '0-3', 1: '4-7', 2: '8-11', 3: '12-15' },
    nics: { eth0: '2', veth0: null },
  });
  t.teardown(s.remove);
  const topo = readTopology(s.root);
  t.same(topo.nodes, [
    { id: 0, cpus: [0, 1, 2, 3] }, { id: 1, cpus: [4, 5, 6, 7] }, { id: 2, cpus: [8, 9, 10, 11] }, { id: 3, cpus: [12, 13, 14, 15] },
  ], 'node files as written (the planner drops offline CPUs)');
  t.same(topo.online, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15]);
  t.equal(topo.nrCpuIds, 16);
  t.same(topo.missing, []);
  t.same(readNic(s.root, 'eth0', 'route'), { name: 'eth0', source: 'route', present: true, node: 2 });
  t.same(readNic(s.root, 'veth0', 'config'), { name: 'veth0', source: 'config', present: true, node: null }, 'virtual device: no device/');
  t.same(readNic(s.root, 'eth9', 'config'), { name: 'eth9', source: 'config', present: false, node: null }, 'absent device');
});

t.test('nodes sort numerically; memory-only node; unrelated entries ignored', async (t) => {
  const s = makeSysfs({ possible: '0-3', online: '0-3', nodes: { 10: '2-3', 2: '0-1', 3: '' } });
  t.teardown(s.remove);
  fs.mkdirSync(path.join(s.root, 'devices/system/node/power'));
  fs.mkdirSync(path.join(s.root, 'devices/system/node/node01'));
  t.same(readTopology(s.root).nodes, [{ id: 2, cpus: [0, 1] }, { id: 3, cpus: [] }, { id: 10, cpus: [2, 3] }]);
});

t.test('numa_node -1 means no information', async (t) => {
  const s = makeSysfs({ possible: '0-7', online: '0-7', nics: { eth0: '-1' } });
  t.teardown(s.remove);
  t.equal(readNic(s.root, 'eth0', 'route').node, null);
});

t.test('non-NUMA kernel: no node directory', async (t) => {
  const s = makeSysfs({ possible: '0-3', online: '0-3' });
  t.teardown(s.remove);
  const topo = readTopology(s.root);
  t.same(topo.nodes, []);
  t.same(topo.online, [0, 1, 2, 3]);
  t.equal(topo.nrCpuIds, 4);
  t.same(topo.missing, [path.join(s.root, 'devices/system/node')]);
});

t.test('missing CPU files fall back: online <- possible <- nodes', async (t) => {
  const a = makeSysfs({ possible: '0-15', nodes: { 0: '0-3', 1: '4-7' } });
  t.teardown(a.remove);
  const ta = readTopology(a.root);
  t.same(ta.online, [...Array(16).keys()], 'no online file: the possible CPUs');
  t.equal(ta.nrCpuIds, 16);
  t.same(ta.missing, [path.join(a.root, 'devices/system/cpu/online')]);

  const b = makeSysfs({ nodes: { 0: '0-1', 1: '2-5' } });
  t.teardown(b.remove);
  const tb = readTopology(b.root);
  t.same(tb.online, [0, 1, 2, 3, 4, 5], 'neither: the nodes\' CPUs');
  t.equal(tb.nrCpuIds, 6);

  const c = makeSysfs({ online: '0-3' });
  t.teardown(c.remove);
  t.equal(readTopology(c.root).nrCpuIds, 4, 'no possible file: highest online CPU + 1');

  const d = makeSysfs({});
  t.teardown(d.remove);
  const td = readTopology(d.root);
  t.same([td.nodes, td.online, td.nrCpuIds], [[], [], 0], 'an empty tree');
  t.equal(td.missing.length, 3);

  const e = readTopology(path.join(d.root, 'does-not-exist'));
  t.same([e.nodes, e.online, e.nrCpuIds], [[], [], 0], 'a root that does not exist');
});

t.test('malformed files: EINPUT naming the file', async (t) => {
  const s = makeSysfs({ possible: '0-3', online: '0-x', nics: { eth0: 'abc' } });
  t.teardown(s.remove);
  t.throws(() => readTopology(s.root), { code: 'EINPUT', message: new RegExp(`^${path.join(s.root, 'devices/system/cpu/online')}: "0-x\\n" is not a CPU list`) });
  t.throws(() => readNic(s.root, 'eth0', 'config'), { code: 'EINPUT', message: /numa_node: "abc" is not a NUMA node number/ });
});

t.test('interface names are checked before they name a path', async (t) => {
  for (const bad of ['', '.', '..', '../eth0', 'a/b', 'eth0:1', 'eth 0', 'abcdefghijklmnop']) {
    t.throws(() => validateIfName(bad), { code: 'EINPUT', message: `uplink "${bad}" is not a valid interface name` }, JSON.stringify(bad));
    t.throws(() => readNic('/sys', bad, 'config'), { code: 'EINPUT' });
  }
  for (const ok of ['eth0', 'enp65s0f0np0', 'a', 'abcdefghijklmno', 'br-lan.10']) t.equal(validateIfName(ok), ok);
});

t.test('resolveUplink', async (t) => {
  let calls = 0;
  const route = (): string => { calls++; return 'eth1'; };
  t.same(resolveUplink('bond0', route), { name: 'bond0', source: 'config' });
  t.equal(calls, 0, 'the route is not looked up when configured');
  t.same(resolveUplink(undefined, route), { name: 'eth1', source: 'route' });
  t.equal(resolveUplink(undefined, () => undefined), undefined, 'no default route');
});
