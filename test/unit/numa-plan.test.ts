// The NUMA planner on fake sysfs trees of 1, 2 and 4 nodes, a non-NUMA
// kernel, 72, 96 and 128 CPUs. Every expected mask is written out by hand:
// queue i of a node with CPUs c[0..n-1] gets c[i], c[i+q], ... (XPS), and
// each hex word covers CPUs 32w..32w+31, most significant word first.
import t, { type Test } from 'tap';
import { planHostNuma } from '../../src/numa/host';
import { NumaSettings, maskWrites, numaSettings, planNuma, xpsSpread } from '../../src/numa/plan';
import { readTopology } from '../../src/numa/topology';
import { FakeSysfsSpec, makeSysfs } from '../fixtures/sysfs/tree';

const AUTO: NumaSettings = { numa: 'auto', queues: 'auto', maxQueues: 8 };

function plan(tt: Test, spec: FakeSysfsSpec, o: { settings?: Partial<NumaSettings>; cpuset?: number[]; uplink?: string; route?: string } = {}) {
  const s = makeSysfs(spec);
  tt.teardown(s.remove);
  return planHostNuma({
    settings: { ...AUTO, ...o.settings },
    sysfsRoot: s.root,
    ...(o.uplink ? { uplink: o.uplink } : {}),
    ...(o.cpuset ? { cpuset: o.cpuset } : {}),
    defaultRouteDevice: () => o.route,
  }).plan;
}

const ONE_NODE: FakeSysfsSpec = { possible: '0-1', online: '0-1', nodes: { 0: '0-1' }, nics: { eth0: null } };
const TWO_NODES: FakeSysfsSpec = { possible: '0-7', online: '0-7', nodes: { 0: '0-3', 1: '4-7' }, nics: { eth0: '1', eth1: '-1' } };
const FOUR_NODES: FakeSysfsSpec = {
  possible: '0-15', online: '0-9,12-15', nodes: { 0: '0-3', 1: '4-7', 2: '8-11', 3: '12-15' }, nics: { eth0: '2', eth3: '3' },
};

t.test('1 node, 2 CPUs, a virtual uplink: the only node', async (t) => {
  const p = plan(t, ONE_NODE, { route: 'eth0' });
  t.has(p, { node: 0, cpus: [0, 1], queues: 2, xps: ['1', '2'], rps: '3', basis: 'single-node', warnings: [], nrCpuIds: 2 });
  t.match(p.reason, /^node 0: the only NUMA node with online CPUs \(the uplink eth0 \(default route\) has no NUMA information\); CPUs 0-1; 2 queues: one per CPU$/);
});

t.test('2 nodes x 4 CPUs, NIC on node 1', async (t) => {
  const p = plan(t, TWO_NODES, { route: 'eth0' });
  t.has(p, { node: 1, cpus: [4, 5, 6, 7], queues: 4, xps: ['10', '20', '40', '80'], rps: 'f0', basis: 'uplink', warnings: [] });
  t.equal(p.reason, 'node 1: the uplink eth0 (default route) is on it; CPUs 4-7; 4 queues: one per CPU');

  t.test('cpuset on node 0: the container\'s node wins, with a warning', async (t) => {
    const p = plan(t, TWO_NODES, { route: 'eth0', cpuset: [0, 1] });
    t.has(p, { node: 0, cpus: [0, 1, 2, 3], queues: 4, xps: ['01', '02', '04', '08'], rps: '0f', basis: 'cpuset' });
    t.equal(p.reason, 'node 0: the container\'s cpuset 0-1 lies on it; CPUs 0-3; 4 queues: one per CPU');
    t.same(p.warnings, ['the container\'s cpuset 0-1 is on node 0 but the uplink eth0 (default route) is on node 1: chose node 0 (the container\'s)']);
  });

  t.test('cpuset on the NIC\'s node: no warning', async (t) => {
    const p = plan(t, TWO_NODES, { route: 'eth0', cpuset: [6] });
    t.has(p, { node: 1, xps: ['10', '20', '40', '80'], rps: 'f0', basis: 'cpuset', warnings: [] });
  });

  t.test('cpuset spanning nodes 0 and 1: the uplink\'s node', async (t) => {
    const p = plan(t, TWO_NODES, { route: 'eth0', cpuset: [2, 3, 4, 5] });
    t.has(p, { node: 1, cpus: [4, 5, 6, 7], xps: ['10', '20', '40', '80'], rps: 'f0', basis: 'uplink', warnings: [] });
    t.equal(p.reason, 'node 1: the uplink eth0 (default route) is on it (the container\'s cpuset 2-5 spans nodes 0,1); CPUs 4-7; 4 queues: one per CPU');
  });

  t.test('cpuset spanning, NIC without NUMA information: all CPUs', async (t) => {
    const p = plan(t, TWO_NODES, { uplink: 'eth1', cpuset: [3, 4] });
    t.has(p, { node: null, cpus: [0, 1, 2, 3, 4, 5, 6, 7], queues: 8, rps: 'ff', basis: 'all-cpus' });
    t.equal(p.reason, 'no node to follow (the container\'s cpuset 3-4 spans nodes 0,1; the uplink eth1 has no NUMA information): all online CPUs; CPUs 0-7; 8 queues: one per CPU');
  });

  t.test('maxQueues 2: CPUs round-robin over the queues', async (t) => {
    const p = plan(t, TWO_NODES, { route: 'eth0', settings: { maxQueues: 2 } });
    // q0: CPUs 4,6 = bits 4,6 = 0x50; q1: CPUs 5,7 = 0xa0.
    t.has(p, { node: 1, queues: 2, xps: ['50', 'a0'], rps: 'f0' });
    t.match(p.reason, /2 queues: one per CPU, capped by maxQueues 2$/);
  });

  t.test('queues 6 > 4 CPUs: queue i gets CPU c[i mod 4]', async (t) => {
    const p = plan(t, TWO_NODES, { route: 'eth0', settings: { queues: 6 } });
    t.has(p, { queues: 6, xps: ['10', '20', '40', '80', '10', '20'], rps: 'f0' });
    t.match(p.reason, /6 queues as configured \(more than the 4 CPUs: CPUs serve several queues\)$/);
  });

  t.test('queues 3 < 4 CPUs, not capped by maxQueues 2 (an explicit count wins)', async (t) => {
    const p = plan(t, TWO_NODES, { route: 'eth0', settings: { queues: 3, maxQueues: 2 } });
    // q0: CPUs 4,7 = 0x90; q1: 5 = 0x20; q2: 6 = 0x40.
    t.has(p, { queues: 3, xps: ['90', '20', '40'] });
  });

  t.test('numa 0 from config beats the NIC', async (t) => {
    const p = plan(t, TWO_NODES, { route: 'eth0', settings: { numa: 0 } });
    t.has(p, { node: 0, cpus: [0, 1, 2, 3], xps: ['01', '02', '04', '08'], rps: '0f', basis: 'config', warnings: [] });
    t.match(p.reason, /^node 0: set by config numa 0; /);
  });

  t.test('numa 0 from config with a container pinned to node 1: warns', async (t) => {
    const p = plan(t, TWO_NODES, { route: 'eth0', settings: { numa: 0 }, cpuset: [4, 5] });
    t.has(p, { node: 0, basis: 'config' });
    t.same(p.warnings, ['the container\'s cpuset 4-5 is on node 1 but config numa is 0: chose node 0']);
  });

  t.test('numa 5: no such node', async (t) => {
    t.throws(() => plan(t, TWO_NODES, { settings: { numa: 5 } }), { name: 'NkitError', code: 'EINPUT', message: 'numa node 5 (config numa) does not exist (nodes: 0,1)' });
  });

  t.test('numa off: queues per config, masks left alone, no route lookup', async (t) => {
    let asked = false;
    const s = makeSysfs(TWO_NODES);
    t.teardown(s.remove);
    const p = planHostNuma({ settings: { ...AUTO, numa: 'off' }, sysfsRoot: s.root, defaultRouteDevice: () => { asked = true; return 'eth0'; } }).plan;
    t.same(p, {
      node: null, cpus: [0, 1, 2, 3, 4, 5, 6, 7], queues: 8, xps: [], rps: null, warnings: [], basis: 'off', nrCpuIds: 8,
      reason: 'NUMA placement off (numa "off"): XPS and RPS masks left as they are; 8 queues: one per CPU',
    });
    t.equal(asked, false);
    t.same(maskWrites(p, 'nk0'), [], 'nothing to write');
  });
});

t.test('NIC with numa_node -1 on 2 nodes: all CPUs', async (t) => {
  const p = plan(t, TWO_NODES, { route: 'eth1' });
  t.has(p, {
    node: null, cpus: [0, 1, 2, 3, 4, 5, 6, 7], queues: 8, xps: ['01', '02', '04', '08', '10', '20', '40', '80'], rps: 'ff', basis: 'all-cpus', warnings: [],
  });
  t.equal(p.reason, 'no node to follow (the uplink eth1 (default route) has no NUMA information): all online CPUs; CPUs 0-7; 8 queues: one per CPU');
});

t.test('no uplink at all (no default route) on 2 nodes', async (t) => {
  const p = plan(t, TWO_NODES, {});
  t.has(p, { node: null, rps: 'ff', basis: 'all-cpus' });
  t.match(p.reason, /\(no uplink \(no config uplink, no default route\)\)/);
});

t.test('configured uplink that does not exist', async (t) => {
  const p = plan(t, TWO_NODES, { uplink: 'eth7', route: 'eth0' });
  t.has(p, { node: null, basis: 'all-cpus' });
  t.match(p.reason, /the uplink eth7 is not under .*\/class\/net/);
});

t.test('4 nodes, CPUs 10-11 of node 2 offline', async (t) => {
  const p = plan(t, FOUR_NODES, { route: 'eth0' });
  t.has(p, { node: 2, cpus: [8, 9], queues: 2, xps: ['0100', '0200'], rps: '0300', basis: 'uplink', warnings: [], nrCpuIds: 16 });

  t.test('a cpuset naming offline CPUs: only the online ones count', async (t) => {
    const p = plan(t, FOUR_NODES, { route: 'eth0', cpuset: [10, 11, 12, 13] });
    t.has(p, { node: 3, cpus: [12, 13, 14, 15], queues: 4, xps: ['1000', '2000', '4000', '8000'], rps: 'f000', basis: 'cpuset' });
    t.same(p.warnings, [
      'the container\'s cpuset 10-13 names CPUs that are not online (10-11): ignored',
      'the container\'s cpuset 12-13 is on node 3 but the uplink eth0 (default route) is on node 2: chose node 3 (the container\'s)',
    ]);
  });

  t.test('a cpuset of offline CPUs only: as if not pinned', async (t) => {
    const p = plan(t, FOUR_NODES, { route: 'eth0', cpuset: [10, 11] });
    t.has(p, { node: 2, basis: 'uplink', rps: '0300' });
    t.same(p.warnings, [
      'the container\'s cpuset 10-11 names CPUs that are not online (10-11): ignored',
      'the container\'s cpuset 10-11 has no online CPU: placement ignores it',
    ]);
  });

  t.test('NIC on a node whose CPUs are all offline: all CPUs, capped at 8 queues', async (t) => {
    const p = plan(t, { ...FOUR_NODES, online: '0-11' }, { route: 'eth3' });
    // 12 CPUs over 8 queues: q0 = 0,8; q1 = 1,9; q2 = 2,10; q3 = 3,11; q4..q7 = 4..7.
    t.has(p, {
      node: null, cpus: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], queues: 8, basis: 'all-cpus',
      xps: ['0101', '0202', '0404', '0808', '0010', '0020', '0040', '0080'], rps: '0fff',
    });
    t.same(p.warnings, ['the uplink eth3 (default route) is on node 3, which has no online CPU: ignored']);
  });

  t.test('numa 3 when node 3 is offline', async (t) => {
    t.throws(() => plan(t, { ...FOUR_NODES, online: '0-11' }, { settings: { numa: 3 } }), { code: 'EINPUT', message: 'numa node 3 (config numa) has no online CPU' });
  });
});

t.test('non-NUMA kernel (no node directory), NIC numa_node -1', async (t) => {
  const spec: FakeSysfsSpec = { possible: '0-3', online: '0-3', nics: { eth0: '-1' } };
  const p = plan(t, spec, { route: 'eth0' });
  t.has(p, { node: null, cpus: [0, 1, 2, 3], queues: 4, xps: ['1', '2', '4', '8'], rps: 'f', basis: 'all-cpus', warnings: [] });
  t.match(p.reason, /^no node to follow \(the kernel shows no NUMA nodes under .*; the uplink eth0 \(default route\) has no NUMA information\): all online CPUs; CPUs 0-3; 4 queues: one per CPU$/);
  t.has(plan(t, spec, { route: 'eth0', cpuset: [1] }), { node: null, cpus: [0, 1, 2, 3], basis: 'all-cpus' }, 'a cpuset gives no node there');
  t.throws(() => plan(t, spec, { settings: { numa: 0 } }), { code: 'EINPUT', message: /^numa node 0 \(config numa\) does not exist \(no NUMA nodes under / });
});

t.test('more possible than online CPUs: masks are as wide as possible', async (t) => {
  const p = plan(t, { possible: '0-15', online: '0-7' }, {});
  t.has(p, { node: null, queues: 8, xps: ['0001', '0002', '0004', '0008', '0010', '0020', '0040', '0080'], rps: '00ff', nrCpuIds: 16 });
});

t.test('an empty tree: no CPU information, masks left alone', async (t) => {
  const p = plan(t, {}, { route: 'eth0' });
  t.has(p, { node: null, cpus: [], queues: 1, xps: [], rps: null, basis: 'no-cpus' });
  t.match(p.reason, /^no CPU information under .* \(missing .*online, .*possible\): XPS and RPS masks left as they are; 1 queue \(no CPU known\)$/);
  t.has(plan(t, {}, { settings: { queues: 4 } }), { queues: 4, xps: [] }, 'an explicit count still holds');
});

t.test('128 CPUs, 2 nodes of 64, NIC on node 1: four 32-bit words', async (t) => {
  const spec: FakeSysfsSpec = { possible: '0-127', online: '0-127', nodes: { 0: '0-63', 1: '64-127' }, nics: { eth0: '1' } };
  const p = plan(t, spec, { route: 'eth0' });
  // q0 = CPUs 64,72,...,120: bits 0,8,16,24 of words 2 and 3.
  t.has(p, {
    node: 1, queues: 8, nrCpuIds: 128, rps: 'ffffffff,ffffffff,00000000,00000000',
    xps: [
      '01010101,01010101,00000000,00000000', '02020202,02020202,00000000,00000000',
      '04040404,04040404,00000000,00000000', '08080808,08080808,00000000,00000000',
      '10101010,10101010,00000000,00000000', '20202020,20202020,00000000,00000000',
      '40404040,40404040,00000000,00000000', '80808080,80808080,00000000,00000000',
    ],
  });
  const p0 = plan(t, spec, { route: 'eth0', settings: { numa: 0 } });
  t.equal(p0.xps[0], '00000000,00000000,01010101,01010101');
  t.equal(p0.rps, '00000000,00000000,ffffffff,ffffffff');
});

t.test('96 CPUs, 2 nodes of 48: a node straddling a word boundary', async (t) => {
  const spec: FakeSysfsSpec = { possible: '0-95', online: '0-95', nodes: { 0: '0-47', 1: '48-95' }, nics: { eth0: '1' } };
  const p = plan(t, spec, { route: 'eth0' });
  t.has(p, { node: 1, queues: 8, rps: 'ffffffff,ffff0000,00000000' });
  // q0 = 48,56 (word 1 bits 16,24) and 64,72,80,88 (word 2 bits 0,8,16,24).
  t.equal(p.xps[0], '01010101,01010000,00000000');
  t.equal(p.xps[1], '02020202,02020000,00000000');
  t.equal(p.xps[7], '80808080,80800000,00000000');
  const p48 = plan(t, spec, { route: 'eth0', settings: { queues: 48 } });
  t.equal(p48.xps.length, 48);
  t.equal(p48.xps[0], '00000000,00010000,00000000', 'queue 0: CPU 48 alone');
  t.equal(p48.xps[16], '00000001,00000000,00000000', 'queue 16: CPU 64 (word 2, the first printed)');
  t.equal(p48.xps[47], '80000000,00000000,00000000', 'queue 47: CPU 95');
});

t.test('72 CPUs: a short most significant word', async (t) => {
  const spec: FakeSysfsSpec = { possible: '0-71', online: '0-71', nodes: { 0: '0-35', 1: '36-71' }, nics: { eth0: '1' } };
  const p = plan(t, spec, { route: 'eth0' });
  t.equal(p.rps, 'ff,fffffff0,00000000');
  // q0 = 36,44,52,60 (word 1 bits 4,12,20,28) and 68 (word 2 bit 4); q4 = 40,48,56 and 64.
  t.equal(p.xps[0], '10,10101010,00000000');
  t.equal(p.xps[4], '01,01010100,00000000');
});

t.test('xpsSpread', async (t) => {
  t.same(xpsSpread([4, 5, 6, 7], 4), [[4], [5], [6], [7]], 'as many queues as CPUs: exclusive pairs');
  t.same(xpsSpread([0, 1, 2, 3, 4], 2), [[0, 2, 4], [1, 3]]);
  t.same(xpsSpread([0, 1], 5), [[0], [1], [0], [1], [0]]);
  t.same(xpsSpread([], 2), [[], []]);
});

t.test('settings are checked', async (t) => {
  const topo = { root: '/x', nodes: [], online: [0, 1], nrCpuIds: 2, missing: [] };
  const bad: Array<[Partial<NumaSettings>, RegExp]> = [
    [{ numa: -1 }, /^numa must be "auto", "off" or a node number 0\.\.1023, not -1$/],
    [{ numa: 'on' as 'auto' }, /not "on"/],
    [{ numa: 1.5 }, /not 1\.5/],
    [{ queues: 0 }, /^queues must be "auto" or 1\.\.64, not 0$/],
    [{ queues: 65 }, /not 65/],
    [{ maxQueues: 0 }, /^maxQueues must be 1\.\.64, not 0$/],
    [{ maxQueues: 65 }, /not 65/],
  ];
  for (const [s, message] of bad) t.throws(() => planNuma({ topology: topo, settings: { ...AUTO, ...s } }), { code: 'EINPUT', message }, JSON.stringify(s));
  t.has(planNuma({ topology: topo, settings: { ...AUTO, queues: 64, maxQueues: 64 } }), { queues: 64 });
});

t.test('numaSettings fills the defaults', async (t) => {
  t.same(numaSettings({}), { numa: 'auto', queues: 'auto', maxQueues: 8, sysfsRoot: '/sys' });
  t.same(numaSettings({ numa: 1, queues: 4, maxQueues: 16, sysfsRoot: '/host/sys', uplink: 'eth0' }), { numa: 1, queues: 4, maxQueues: 16, sysfsRoot: '/host/sys', uplink: 'eth0' });
});

t.test('maskWrites', async (t) => {
  const s = makeSysfs(TWO_NODES);
  t.teardown(s.remove);
  const topology = readTopology(s.root);
  const two = planNuma({ topology, settings: { ...AUTO, numa: 1, maxQueues: 2 } });
  t.same(maskWrites(two, 'nk0'), [
    { file: 'class/net/nk0/queues/tx-0/xps_cpus', value: '50' },
    { file: 'class/net/nk0/queues/tx-1/xps_cpus', value: 'a0' },
    { file: 'class/net/nk0/queues/rx-0/rps_cpus', value: 'f0' },
    { file: 'class/net/nk0/queues/rx-1/rps_cpus', value: 'f0' },
  ]);
  const one = planNuma({ topology, settings: { ...AUTO, numa: 1, queues: 1 } });
  t.same(one.xps, ['f0']);
  t.same(maskWrites(one, 'nk0'), [{ file: 'class/net/nk0/queues/rx-0/rps_cpus', value: 'f0' }], 'one queue: no xps_cpus (ENOENT on single-queue devices)');
});
