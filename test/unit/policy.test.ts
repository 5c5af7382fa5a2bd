// The policy language and its compiler (pure): parsing and its errors, port
// ranges as prefixes, nested CIDRs inheriting the rules that contain them,
// set sharing, and the default actions of the built-ins.
import t from 'tap';
import * as abi from '../../src/bpf/abi';
import { compilePolicy, rangeToPrefixes } from '../../src/policy/compile';
import { parsePolicy, parsePorts, policyToJson } from '../../src/policy/rules';

const parse = (v: unknown) => parsePolicy(JSON.stringify(v), 'p.json', 'p', 'test');

t.test('ports', async (t) => {
  t.same(parsePorts('80', 'x'), [[80, 80]]);
  t.same(parsePorts(443, 'x'), [[443, 443]]);
  t.same(parsePorts('80, 443,8000-8100', 'x'), [[80, 80], [443, 443], [8000, 8100]]);
  for (const [bad, re] of [['0', /port 0 is out of range/], ['65536', /out of range/], ['90-80', /backwards/], ['8o', /not a port/], ['', /empty/], ['1-2-3', /not a port/]] as const) {
    t.throws(() => parsePorts(bad, 'where'), { code: 'EINPUT', message: re }, `"${bad}"`);
  }
});

t.test('ranges become prefix blocks covering exactly the range', async (t) => {
  t.same(rangeToPrefixes(80, 80), [[80, 16]]);
  t.same(rangeToPrefixes(1, 65535).length, 16, '1-65535: 16 blocks');
  t.same(rangeToPrefixes(8000, 8003), [[8000, 14]]);
  for (const [lo, hi] of [[8000, 8100], [1, 1023], [1024, 65535], [3, 17], [65535, 65535]] as const) {
    const covered: number[] = [];
    for (const [p, len] of rangeToPrefixes(lo, hi)) for (let i = 0; i < 2 ** (16 - len); i++) covered.push(p + i);
    t.same([covered[0], covered[covered.length - 1], covered.length], [lo, hi, hi - lo + 1], `${lo}-${hi}`);
    t.equal(new Set(covered).size, covered.length, 'no overlap');
  }
});

t.test('parse errors name the file, the rule and the reason', async (t) => {
  t.throws(() => parse({ egress: [{ cidr: '10.0.0.0/8', proto: 'tcp' }, { cidr: '::/0', proto: 'icmp', ports: '1' }] }), { message: 'policy p.json: egress[1]: ports given for proto icmp (ports apply to tcp and udp only)' });
  t.throws(() => parse({ ingress: [{ cidr: '10.0.0.0/8', proto: 'any', ports: '1' }] }), { message: /ingress\[0\]: ports given for proto any/ });
  t.throws(() => parse({ ingress: [{ cidr: '10.0.0.300/8', proto: 'tcp' }] }), { message: /ingress\[0\]: "10\.0\.0\.300" is not an IPv4 or IPv6 address/ });
  t.throws(() => parse({ egress: [{ cidr: '10.0.0.0/8', proto: 'sctp' }] }), { message: /policy p\.json: "egress\[0\]\.proto" must be one of "tcp", "udp", "icmp", "any"/ });
  t.throws(() => parse({ egress: [{ cidr: '10.0.0.0/8' }] }), { message: /missing key "egress\[0\]\.proto"/ });
  t.throws(() => parse({ egres: [] }), { message: /unknown key "egres"/ });
  t.throws(() => parsePolicy('{"egress": [', 'p.json', 'p', 'test'), { message: /policy p\.json: malformed JSON/ });
});

t.test('a policy round-trips through JSON', async (t) => {
  const p = parse({ egress: [{ cidr: '10.0.0.0/8', proto: 'tcp', ports: '80,8000-8100' }, { cidr: 'fd00::/8', proto: 'icmp' }] });
  t.same(policyToJson(p), { ingress: [], egress: [{ cidr: '10.0.0.0/8', proto: 'tcp', ports: '80,8000-8100' }, { cidr: 'fd00::/8', proto: 'icmp' }] });
});

t.test('compile: nested prefixes inherit, families keep their ICMP', async (t) => {
  const c = compilePolicy(parse({
    egress: [
      { cidr: '10.0.0.0/8', proto: 'tcp', ports: '80' },
      { cidr: '10.1.0.0/16', proto: 'udp', ports: '53' },
      { cidr: '0.0.0.0/0', proto: 'icmp' },
      { cidr: '::/0', proto: 'icmp' },
    ],
  }));
  t.same(c.defaultAction, [abi.DEFAULT_DENY, abi.DEFAULT_DENY]);
  const setOf = (len: number, fam: number) => c.cidrs.find((e) => e.len === len && e.family === fam)!.setId;
  const portsOf = (set: number) => c.ports.filter((p) => p.setId === set).map((p) => `${p.proto}/${p.port}/${p.portLen}#${p.rule}`).sort();
  t.same(portsOf(setOf(0, 4)), ['1/0/0#2'], '/0: ICMPv4');
  t.same(portsOf(setOf(8, 4)), ['1/0/0#2', '6/80/16#0'], '/8: its own and the /0\'s');
  t.same(portsOf(setOf(16, 4)), ['1/0/0#2', '17/53/16#1', '6/80/16#0'], '/16: its own, the /8\'s and the /0\'s');
  t.same(portsOf(setOf(0, 6)), ['58/0/0#3'], '::/0: ICMPv6');
  t.ok(c.cidrs.every((e) => e.dir === abi.DIR_EGRESS), 'all egress');
});

t.test('compile: sets are shared only for the same rules; built-ins have no entries', async (t) => {
  const same = compilePolicy(parse({ ingress: [{ cidr: '10.0.0.1/32', proto: 'tcp', ports: '22' }, { cidr: '10.0.0.2/32', proto: 'tcp', ports: '22' }] }));
  t.equal(same.sets, 2, 'two rules, two sets (rule attribution stays exact)');
  const dup = compilePolicy(parse({ ingress: [{ cidr: '10.0.0.1/32', proto: 'tcp', ports: '22' }, { cidr: '10.0.0.1/32', proto: 'tcp', ports: '22-23' }] }));
  t.equal(dup.cidrs.length, 1, 'one prefix for two rules');
  t.same(dup.ports.map((p) => `${p.port}/${p.portLen}#${p.rule}`).sort(), ['22/15#1', '22/16#0'], 'the first rule wins the overlap');
  const allow = compilePolicy({ name: 'allow-all', source: 't', allowAll: true, ingress: [], egress: [] });
  t.same([allow.defaultAction, allow.cidrs.length, allow.ports.length], [[abi.DEFAULT_ALLOW, abi.DEFAULT_ALLOW], 0, 0]);
});
