// The pure plan: network and policy chosen from annotations or config,
// errors that say where a bad name came from, MACs, addresses.
import t from 'tap';
import { parseConfig } from '../../src/config/config';
import { ANNOTATION_NETWORK, ANNOTATION_POLICY, macFor, planAddresses, planContainer } from '../../src/plan/plan';

const cfg = parseConfig(JSON.stringify({
  policy: 'allow-all',
  networks: {
    default: { subnets: ['10.213.0.0/24', 'fd6e:6b69:74::/64'] },
    blue: { subnets: ['10.99.0.0/16'], mtu: 9000, mode: 'l2' },
  },
}), 'test');

t.test('defaults come from the config', async (t) => {
  const p = planContainer('fx1', cfg, {});
  t.equal(p.network, 'default');
  t.same(p.subnets, [
    { family: 4, network: 0x0ad50000n, prefixLen: 24 },
    { family: 6, network: 0xfd6e6b69007400000000000000000000n, prefixLen: 64 },
  ]);
  t.equal(p.mtu, 1500);
  t.equal(p.mode, 'l3');
  t.equal(p.primary, 'nk46989e2bb7f2');
  t.equal(p.peer, 'eth0');
  t.same(p.policy, { name: 'allow-all', source: 'config "policy"' });
  t.same(p.macs, { primary: macFor('fx1', 'primary'), peer: macFor('fx1', 'peer') });
});

t.test('annotations override network and policy', async (t) => {
  const p = planContainer('fx1', cfg, { [ANNOTATION_NETWORK]: 'blue', [ANNOTATION_POLICY]: 'deny-all', 'io.other': 'x' });
  t.equal(p.network, 'blue');
  t.equal(p.mtu, 9000);
  t.equal(p.mode, 'l2');
  t.same(p.subnets, [{ family: 4, network: 0x0a630000n, prefixLen: 16 }]);
  t.same(p.policy, { name: 'deny-all', source: 'annotation org.nkit.policy' });
});

t.test('errors name their source', async (t) => {
  t.throws(() => planContainer('fx1', cfg, { [ANNOTATION_NETWORK]: 'red' }), {
    code: 'EINPUT', message: 'container fx1: unknown network "red" (from annotation org.nkit.network)', hint: 'configured networks: default, blue',
  });
  const noDefault = parseConfig('{"networks":{"blue":{"subnets":["10.99.0.0/16"]}}}', 'test');
  t.throws(() => planContainer('fx1', noDefault, {}), { code: 'EINPUT', message: /^container fx1: unknown network "default" \(from the default network name\)$/, hint: 'configured networks: blue' });
  // A policy name is only checked for shape here; setup loads the file.
  t.same(planContainer('fx1', cfg, { [ANNOTATION_POLICY]: 'web' }).policy, { name: 'web', source: 'annotation org.nkit.policy' });
  t.throws(() => planContainer('fx1', cfg, { [ANNOTATION_NETWORK]: 'Blue!' }), {
    code: 'EINPUT', message: /^container fx1: annotations: "org\.nkit\.network" must match pattern/,
  });
  t.throws(() => planContainer('fx1', cfg, { [ANNOTATION_POLICY]: '' }), { code: 'EINPUT', message: /"org\.nkit\.policy"/ });
  t.throws(() => planContainer('../x', cfg, {}), { code: 'EINPUT', message: /^invalid container id/ }, 'the id first');
});

t.test('macFor: locally administered unicast, deterministic, distinct', async (t) => {
  const ids = ['fx1', 'fx2', 'a'.repeat(128), '20b06db412f68dca6fe38a52904039e7d561d269292530a06c38fb473fe9491d'];
  const seen = new Set<string>();
  for (const id of ids) {
    for (const side of ['primary', 'peer'] as const) {
      const m = macFor(id, side);
      t.equal(m.length, 6);
      t.equal(m[0]! & 0x01, 0, `${id.slice(0, 8)} ${side}: unicast (I/G bit clear)`);
      t.equal(m[0]! & 0x02, 0x02, `${id.slice(0, 8)} ${side}: locally administered (U/L bit set)`);
      t.same(macFor(id, side), m, 'deterministic');
      seen.add(m.toString('hex'));
    }
  }
  t.equal(seen.size, ids.length * 2, 'no two ids or sides share a MAC');
  t.equal(macFor('fx1', 'primary').toString('hex'), '3e328d8d4127', 'pinned: a change would re-MAC existing containers');
  t.equal(macFor('fx1', 'peer').toString('hex'), '2e75b397ea80');
});

t.test('planAddresses', async (t) => {
  t.same(planAddresses([]), []);
  t.same(planAddresses([
    { family: 4, address: '10.213.0.2', prefixLen: 24, gateway: '10.213.0.1' },
    { family: 6, address: 'fd6e:6b69:74::2', prefixLen: 64, gateway: 'fd6e:6b69:74::1' },
  ]), [
    {
      family: 4,
      container: { address: '10.213.0.2', bytes: Buffer.from([10, 213, 0, 2]), prefixLen: 24 },
      host: { address: '10.213.0.1', bytes: Buffer.from([10, 213, 0, 1]), prefixLen: 32 },
    },
    {
      family: 6,
      container: { address: 'fd6e:6b69:74::2', bytes: Buffer.from('fd6e6b69007400000000000000000002', 'hex'), prefixLen: 64 },
      host: { address: 'fd6e:6b69:74::1', bytes: Buffer.from('fd6e6b69007400000000000000000001', 'hex'), prefixLen: 128 },
    },
  ]);
});
