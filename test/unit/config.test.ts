// Config parsing: the documented example as is, defaults, and errors that
// name the bad key; where the config file is looked for.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { SYSTEM_CONFIG, logFileOf, parseConfig, resolveConfigPath } from '../../src/config/config';
import { repoRoot } from '../lib/paths';

// The issue's config, verbatim.
const ISSUE = `{ "datapath": "auto", "runDir": "/run/nkit", "bpffsDir": "/sys/fs/bpf/nkit", "policiesDir": "/etc/nkit/policies", "networks": { "default": { "subnets": ["10.213.0.0/24", "fd6e:6b69:74::/64"], "mtu": 1500, "mode": "l3" } }, "policy": "deny-all" }`;
const DEFAULT_NETWORKS = { default: { subnets: ['10.213.0.0/24', 'fd6e:6b69:74::/64'], mtu: 1500, mode: 'l3' } };

t.test('the issue\'s config is accepted as is', async (t) => {
  const cfg = parseConfig(ISSUE, 'issue.json');
  t.same(cfg, {
    datapath: 'auto', runDir: '/run/nkit', bpffsDir: '/sys/fs/bpf/nkit', policiesDir: '/etc/nkit/policies',
    networks: DEFAULT_NETWORKS, policy: 'deny-all', conntrackSize: 8192, logLevel: 'info', source: 'issue.json',
  });
  t.equal(logFileOf(cfg), '/run/nkit/nkit.log');
});

t.test('{} gets every default', async (t) => {
  t.same(parseConfig('{}', 'x'), {
    datapath: 'auto', runDir: '/run/nkit', bpffsDir: '/sys/fs/bpf/nkit', policiesDir: '/etc/nkit/policies',
    policy: 'deny-all', conntrackSize: 8192, logLevel: 'info', networks: DEFAULT_NETWORKS, source: 'x',
  });
  const a = parseConfig('{}', 'x');
  a.networks.default!.subnets.push('mutated');
  t.same(parseConfig('{}', 'x').networks, DEFAULT_NETWORKS, 'defaults are not shared between calls');
  t.same(parseConfig('{"networks":{"n1":{"subnets":["10.1.0.0/16"]}}}', 'x').networks, { n1: { subnets: ['10.1.0.0/16'], mtu: 1500, mode: 'l3' } },
    'network-level defaults');
  t.equal(logFileOf(parseConfig('{"runDir":"/tmp/r","logFile":"/var/log/nkit.log"}', 'x')), '/var/log/nkit.log');
});

const net = (o: Record<string, unknown>): string => JSON.stringify({ networks: { default: { subnets: ['10.213.0.0/24'], ...o } } });
const rejects: Array<[string, string, RegExp]> = [
  ['wrong type: mtu string', net({ mtu: '1500' }), /"networks\.default\.mtu" must be integer/],
  ['mtu too small', net({ mtu: 576 }), /"networks\.default\.mtu" must be >= 1280/],
  ['mtu not an integer', net({ mtu: 1500.5 }), /networks\.default\.mtu/],
  ['unknown top-level key', '{"datapth":"auto"}', /unknown key "datapth"/],
  ['unknown network key', net({ gateway: '10.213.0.1' }), /unknown key "networks\.default\.gateway"/],
  ['bad enum datapath', '{"datapath":"ebpf"}', /"datapath" must be one of "auto", "netkit", "veth"/],
  ['bad enum mode', net({ mode: 'l4' }), /"networks\.default\.mode" must be one of "l3", "l2"/],
  ['bad logLevel', '{"logLevel":"verbose"}', /"logLevel" must be one of/],
  ['relative runDir', '{"runDir":"run/nkit"}', /"runDir" must match pattern/],
  ['subnets not an array', net({ subnets: '10.213.0.0/24' }), /"networks\.default\.subnets" must be array/],
  ['no subnets', net({ subnets: [] }), /"networks\.default\.subnets" must NOT have fewer than 1 items/],
  ['missing subnets', '{"networks":{"default":{"mtu":1500}}}', /missing key "networks\.default\.subnets"/],
  ['bad network name', '{"networks":{"Bad Name":{"subnets":["10.0.0.0/24"]}}}', /invalid key "Bad Name" in "networks" \(must match /],
  ['no networks', '{"networks":{}}', /"networks" must NOT have fewer than 1 properties/],
  ['policy wrong type', '{"policy":3}', /"policy" must be string/],
  ['top level not an object', '[]', /"\(top level\)" must be object/],
  ['host bits', net({ subnets: ['10.213.0.1/24'] }), /networks\.default\.subnets: "10\.213\.0\.1\/24": host bits are set/],
  ['two v4 subnets', net({ subnets: ['10.213.0.0/24', '10.214.0.0/24'] }), /networks\.default\.subnets: more than one IPv4 subnet/],
  ['two v6 subnets', net({ subnets: ['fd00::/64', 'fd01::/64'] }), /networks\.default\.subnets: more than one IPv6 subnet/],
  ['/31', net({ subnets: ['10.213.0.0/31'] }), /networks\.default\.subnets: IPv4 subnet \/31 is too small/],
  ['/127', net({ subnets: ['fd00::/127'] }), /networks\.default\.subnets: IPv6 subnet \/127 is too small/],
  ['not an address', net({ subnets: ['10.213.0/24'] }), /networks\.default\.subnets: "10\.213\.0" is not an IPv4 or IPv6 address/],
  ['empty', '', /config f\.json: empty input \(expected JSON\)/],
  ['whitespace', ' \n\t', /empty input/],
  ['malformed', '{"datapath": "auto",}', /config f\.json: malformed JSON \(/],
  ['truncated', ISSUE.slice(0, 80), /malformed JSON/],
];
for (const [name, text, message] of rejects) {
  t.test(`rejects: ${name}`, async (t) => {
    t.throws(() => parseConfig(text, 'f.json'), { name: 'NkitError', code: 'ECONFIG', message });
    t.throws(() => parseConfig(text, 'f.json'), { message: /^config f\.json: / }, 'names the file');
  });
}

t.test('accepts the edges', async (t) => {
  t.equal(parseConfig(net({ subnets: ['10.213.0.0/30'] }), 'x').networks.default!.subnets[0], '10.213.0.0/30');
  t.equal(parseConfig(net({ subnets: ['fd00::/126', '10.0.0.0/8'] }), 'x').networks.default!.subnets.length, 2);
  t.equal(parseConfig(net({ mtu: 65535, mode: 'l2' }), 'x').networks.default!.mode, 'l2');
  t.equal(parseConfig('{"$schema":"./config.schema.json"}', 'x').datapath, 'auto', '$schema is allowed');
});

t.test('resolveConfigPath precedence', async (t) => {
  t.same(resolveConfigPath('/a/flag.json', { NKIT_CONFIG: '/b/env.json' }), { file: '/a/flag.json', explicit: true }, 'flag beats env');
  t.same(resolveConfigPath(undefined, { NKIT_CONFIG: '/b/env.json' }), { file: '/b/env.json', explicit: true }, 'env');
  t.same(resolveConfigPath('rel/c.json', {}), { file: resolve('rel/c.json'), explicit: true }, 'relative flag resolved against cwd');
  t.same(resolveConfigPath(undefined, { NKIT_CONFIG: 'e.json' }), { file: resolve('e.json'), explicit: true });
  t.same(resolveConfigPath('', { NKIT_CONFIG: '/b/env.json' }).file, '/b/env.json', 'an empty flag is no flag');
  const fallback = resolveConfigPath(undefined, { NKIT_CONFIG: '' });
  t.equal(fallback.explicit, false);
  // /etc/nkit is not created here: on a host without it the package default is used.
  t.equal(fallback.file, existsSync(SYSTEM_CONFIG) ? SYSTEM_CONFIG : join(repoRoot, 'config', 'nkit.json'));
});
