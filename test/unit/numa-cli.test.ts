// `nkit numa` through commander: the JSON shape, the table, the options,
// and the NUMA keys of the config schema.
import t from 'tap';
import { Command } from 'commander';
import { addNumaCommand } from '../../src/cli/numa';
import { LoadedConfig, parseConfig } from '../../src/config/config';
import { makeSysfs } from '../fixtures/sysfs/tree';

interface Run { out: string; routeAsked: number }

function run(args: string[], cfg: LoadedConfig = parseConfig('{}', 'test'), route: string | null = 'eth0'): Run {
  // null: no default route.
  let out = '';
  let routeAsked = 0;
  const program = new Command('nkit').exitOverride();
  addNumaCommand(program, () => cfg, (s) => { out += s; }, () => { routeAsked++; return route ?? undefined; });
  program.parse(['node', 'nkit', 'numa', ...args]);
  return { out, routeAsked };
}

const twoNodes = () => makeSysfs({ possible: '0-7', online: '0-7', nodes: { 0: '0-3', 1: '4-7' }, nics: { eth0: '1', eth1: '-1' } });

t.test('--json: the documented shape', async (t) => {
  const s = twoNodes();
  t.teardown(s.remove);
  const r = run(['--sysfs-root', s.root, '--json']);
  const j = JSON.parse(r.out) as Record<string, unknown>;
  t.same(j, {
    node: 1,
    cpus: [4, 5, 6, 7],
    queues: 4,
    xps: ['10', '20', '40', '80'],
    rps: 'f0',
    reason: 'node 1: the uplink eth0 (default route) is on it; CPUs 4-7; 4 queues: one per CPU',
    warnings: [],
    basis: 'uplink',
    nrCpuIds: 8,
    uplink: { name: 'eth0', source: 'route', present: true, node: 1 },
    cpuset: null,
    sysfsRoot: s.root,
  });
  t.equal(r.routeAsked, 1);
});

t.test('--cpus and --uplink', async (t) => {
  const s = twoNodes();
  t.teardown(s.remove);
  const a = JSON.parse(run(['--sysfs-root', s.root, '--cpus', '0-1', '--json']).out) as Record<string, unknown>;
  t.has(a, { node: 0, cpus: [0, 1, 2, 3], xps: ['01', '02', '04', '08'], rps: '0f', cpuset: '0-1', basis: 'cpuset' });
  t.match(a.warnings, [/on node 0 but the uplink eth0 \(default route\) is on node 1: chose node 0/]);

  const b = run(['--sysfs-root', s.root, '--uplink', 'eth1', '--json']);
  t.has(JSON.parse(b.out), { node: null, cpus: [0, 1, 2, 3, 4, 5, 6, 7], queues: 8, rps: 'ff', uplink: { name: 'eth1', source: 'config', node: null } });
  t.equal(b.routeAsked, 0, '--uplink: no route lookup');
});

t.test('config: sysfsRoot, uplink, numa, queues', async (t) => {
  const s = twoNodes();
  t.teardown(s.remove);
  const cfg = parseConfig(JSON.stringify({ sysfsRoot: s.root, uplink: 'eth0', numa: 0, queues: 2 }), 'c.json');
  const r = run(['--json'], cfg);
  // node 0, 2 queues: q0 = CPUs 0,2 = 0x05; q1 = 1,3 = 0x0a.
  t.has(JSON.parse(r.out), { node: 0, queues: 2, xps: ['05', '0a'], rps: '0f', basis: 'config', sysfsRoot: s.root, uplink: { source: 'config' } });
  t.equal(r.routeAsked, 0);
  t.has(JSON.parse(run(['--json'], parseConfig(JSON.stringify({ sysfsRoot: s.root, numa: 'off' }), 'c.json')).out), { node: null, xps: [], rps: null, uplink: null });
});

t.test('the table', async (t) => {
  const s = twoNodes();
  t.teardown(s.remove);
  const r = run(['--sysfs-root', s.root, '--cpus', '0-1']);
  t.equal(r.out, [
    'node    0',
    'cpus    0-3',
    'queues  4',
    'rps     0f',
    'xps     tx-0 01  cpu 0',
    '        tx-1 02  cpu 1',
    '        tx-2 04  cpu 2',
    '        tx-3 08  cpu 3',
    'uplink  eth0 (default route): node 1',
    'cpuset  0-1',
    'reason  node 0: the container\'s cpuset 0-1 lies on it; CPUs 0-3; 4 queues: one per CPU',
    'warning the container\'s cpuset 0-1 is on node 0 but the uplink eth0 (default route) is on node 1: chose node 0 (the container\'s)',
    '',
  ].join('\n'));
  const off = run(['--sysfs-root', s.root], parseConfig('{"numa":"off"}', 'c.json'));
  t.match(off.out, /^node    -\ncpus    0-7\nqueues  8\nrps     \(left as is\)\nxps     \(left as is\)\nuplink  -\ncpuset  -\nreason  NUMA placement off/);
  const none = run(['--sysfs-root', s.root], undefined, null);
  t.match(none.out, /\nuplink  -\n/, 'no default route');
});

t.test('bad options', async (t) => {
  const s = twoNodes();
  t.teardown(s.remove);
  t.throws(() => run(['--sysfs-root', s.root, '--cpus', '0-x']), { name: 'NkitError', code: 'EUSAGE', message: /^--cpus: "0-x" is not a CPU list/ });
  t.throws(() => run(['--sysfs-root', s.root, '--cpus', '']), { code: 'EUSAGE', message: '--cpus needs at least one CPU' });
  t.throws(() => run(['--sysfs-root', s.root, '--uplink', '../x']), { code: 'EINPUT', message: 'uplink "../x" is not a valid interface name' });
  t.throws(() => run(['--sysfs-root', s.root], parseConfig('{"numa":7}', 'c.json')), { code: 'EINPUT', message: 'numa node 7 (config numa) does not exist (nodes: 0,1)' });
});

t.test('config schema: the NUMA keys', async (t) => {
  const ok = parseConfig(JSON.stringify({ numa: 1, queues: 4, maxQueues: 16, uplink: 'enp65s0f0np0', sysfsRoot: '/host/sys' }), 'c.json');
  t.has(ok, { numa: 1, queues: 4, maxQueues: 16, uplink: 'enp65s0f0np0', sysfsRoot: '/host/sys' });
  t.has(parseConfig('{"numa":"off","queues":"auto"}', 'c.json'), { numa: 'off', queues: 'auto' });
  t.notOk('numa' in parseConfig('{}', 'c.json'), 'no schema default: numaSettings() fills them in');
  const bad: Array<[string, RegExp]> = [
    ['{"numa":-1}', /"numa" must be >= 0/],
    ['{"numa":1024}', /"numa" must be <= 1023/],
    ['{"numa":"on"}', /"numa" must be one of "auto", "off"/],
    ['{"numa":1.5}', /"numa" must be string,integer/],
    ['{"queues":0}', /"queues" must be >= 1/],
    ['{"queues":65}', /"queues" must be <= 64/],
    ['{"queues":"off"}', /"queues" must be one of "auto"/],
    ['{"maxQueues":0}', /"maxQueues" must be >= 1/],
    ['{"maxQueues":"8"}', /"maxQueues" must be integer/],
    ['{"uplink":"a/b"}', /"uplink" must match pattern/],
    ['{"uplink":".."}', /"uplink" must match pattern/],
    ['{"uplink":"abcdefghijklmnop"}', /"uplink" must match pattern/],
    ['{"sysfsRoot":"sys"}', /"sysfsRoot" must match pattern/],
  ];
  for (const [text, message] of bad) t.throws(() => parseConfig(text, 'c.json'), { code: 'ECONFIG', message }, text);
});
