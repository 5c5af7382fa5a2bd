// The policy program on the real verifier and JIT, through BPF_PROG_TEST_RUN:
// default deny, the built-in policies, rules of every kind in both families,
// replies, anti-spoofing, malformed packets, neighbour discovery, counters
// and the generation flip of a live update.
import t from 'tap';
import * as abi from '../../src/bpf/abi';
import { arpFrame, ethFrame, type PacketSpec } from '../../src/policy/packet';
import { addon } from '../../src/native';
import { readGenCount, seedFlows } from '../../src/policy/maps';
import { CTR4, CTR6, ctEntries, loadForTest } from '../lib/policy-prog';
import { rootSkipReason } from '../lib/skip';

const skip = rootSkipReason();
const out = (dst: string, proto: PacketSpec['proto'], dport?: number, extra: Partial<PacketSpec> = {}): PacketSpec => ({
  src: dst.includes(':') ? CTR6 : CTR4, dst, proto, ...(dport ? { dport } : {}), ...extra,
});
const inn = (src: string, proto: PacketSpec['proto'], dport?: number, extra: Partial<PacketSpec> = {}): PacketSpec => ({
  src, dst: src.includes(':') ? CTR6 : CTR4, proto, ...(dport ? { dport } : {}), ...extra,
});

// An IPv4 frame with 4 bytes of options (NOPs and an end) after the header.
const withOptions = (f: Buffer): Buffer => {
  const b = Buffer.concat([f.subarray(0, 14 + 20), Buffer.from([1, 1, 1, 0]), f.subarray(14 + 20)]);
  b[14] = 0x46;
  b.writeUInt16BE(b.readUInt16BE(14 + 2) + 4, 14 + 2);
  return b;
};

const RULES = {
  egress: [
    { cidr: '10.0.0.0/8', proto: 'tcp', ports: '80,443' },
    { cidr: '10.1.0.0/16', proto: 'udp', ports: '53' },
    { cidr: '::/0', proto: 'icmp' },
    { cidr: '192.168.0.0/16', proto: 'any' },
    { cidr: '172.16.0.0/12', proto: 'tcp', ports: '8000-8100' },
    { cidr: 'fd00::/8', proto: 'tcp', ports: 22 },
  ],
  ingress: [{ cidr: '10.0.0.0/8', proto: 'tcp', ports: '8080' }],
};

t.test('before any policy is installed, everything is dropped', { skip }, async (t) => {
  const p = loadForTest(t);
  for (const spec of [out('10.1.1.1', 'tcp', 80), out('fd00::1', 'icmp')]) {
    t.equal(p.run('egress', ethFrame(spec)), abi.VERDICT_DROP, `egress ${spec.dst}`);
    t.equal(p.run('ingress', ethFrame(inn(spec.dst, spec.proto))), abi.VERDICT_DROP, `ingress ${spec.dst}`);
  }
});

t.test('deny-all and allow-all', { skip }, async (t) => {
  const p = loadForTest(t);
  p.install('deny-all');
  t.match(p.test('egress', out('1.1.1.1', 'tcp', 80)), { verdict: 'drop', reason: 'drop_policy' });
  t.match(p.test('ingress', inn('1.1.1.1', 'udp', 53)), { verdict: 'drop', reason: 'drop_policy' });
  p.install('allow-all');
  t.match(p.test('egress', out('1.1.1.1', 'tcp', 80)), { verdict: 'pass', reason: 'pass' });
  t.match(p.test('ingress', inn('fd00::9', 'udp', 53)), { verdict: 'pass', reason: 'pass' });
  t.match(p.test('egress', { src: '10.213.0.99', dst: '1.1.1.1', proto: 'tcp' }), { verdict: 'drop', reason: 'drop_spoof' }, 'allow-all still drops spoofed sources');
  t.match(p.test('egress', { src: 'fd6e:6b69:74::99', dst: 'fd00::1', proto: 'udp' }), { verdict: 'drop', reason: 'drop_spoof' }, '... IPv6 too');
  // A flow allow-all let through gets no replies once deny-all is in force.
  t.equal(p.run('egress', ethFrame(out('1.1.1.1', 'tcp', 80, { sport: 40000 }))), abi.VERDICT_PASS);
  t.same(ctEntries(p), [], 'allow-all keeps no connection table');
  t.match(p.test('ingress', inn('1.1.1.1', 'tcp', 40000, { sport: 80 })), { verdict: 'pass', reason: 'pass' }, 'a reply passes as any packet does');
  p.install('deny-all');
  t.match(p.test('ingress', inn('1.1.1.1', 'tcp', 40000, { sport: 80 })), { verdict: 'drop', reason: 'drop_policy' }, 'deny-all: not even replies');
});

const RULE_CASES: Array<[string, PacketSpec, string, number?]> = [
    ['tcp 80 in 10/8', out('10.2.3.4', 'tcp', 80), 'pass', 0],
    ['tcp 443 in 10/8', out('10.2.3.4', 'tcp', 443), 'pass', 0],
    ['tcp 22 in 10/8', out('10.2.3.4', 'tcp', 22), 'drop'],
    ['tcp 80 in 10.1/16 inherits 10/8', out('10.1.2.3', 'tcp', 80), 'pass', 0],
    ['udp 53 in 10.1/16', out('10.1.2.3', 'udp', 53), 'pass', 1],
    ['udp 53 in 10/8 outside 10.1/16', out('10.2.3.4', 'udp', 53), 'drop'],
    ['icmp v6 anywhere', out('2001:db8::1', 'icmp'), 'pass', 2],
    ['icmp v4 not allowed', out('10.2.3.4', 'icmp'), 'drop'],
    ['any proto in 192.168/16 (udp)', out('192.168.1.1', 'udp', 9999), 'pass', 3],
    ['any proto in 192.168/16 (icmp)', out('192.168.1.1', 'icmp'), 'pass', 3],
    ['range start', out('172.16.5.5', 'tcp', 8000), 'pass', 4],
    ['range middle', out('172.31.255.255', 'tcp', 8050), 'pass', 4],
    ['range end', out('172.16.0.1', 'tcp', 8100), 'pass', 4],
    ['below range', out('172.16.0.1', 'tcp', 7999), 'drop'],
    ['above range', out('172.16.0.1', 'tcp', 8101), 'drop'],
    ['udp in a tcp range', out('172.16.0.1', 'udp', 8050), 'drop'],
    ['v6 tcp 22', out('fd00::1', 'tcp', 22), 'pass', 5],
    ['v6 tcp 23', out('fd00::1', 'tcp', 23), 'drop'],
    ['v6 outside', out('2001:db8::1', 'tcp', 22), 'drop'],
    ['no rule at all', out('8.8.8.8', 'tcp', 80), 'drop'],
    ['egress rule does not open ingress', inn('10.2.3.4', 'tcp', 80), 'drop'],
    ['ingress rule', inn('10.9.9.9', 'tcp', 8080), 'pass', 0],
    ['ingress rule, other port', inn('10.9.9.9', 'tcp', 8081), 'drop'],
];

// Nested prefixes of 9 lengths per direction and family, allowing only
// udp 7 (which no case sends): more lengths than the hash lookups take, so
// the rules go into the LPM tries.
const NINE_LENGTHS = [
  ...[9, 10, 11, 12, 13, 14, 15, 16, 17].map((len) => ({ cidr: `100.0.0.0/${len}`, proto: 'udp', ports: '7' })),
  ...[17, 18, 19, 20, 21, 22, 23, 24, 25].map((len) => ({ cidr: `fd99::/${len}`, proto: 'udp', ports: '7' })),
];

for (const [how, rules, lens] of [
  ['hash lookups per prefix length', RULES, 'hash'],
  ['LPM tries (more than 8 prefix lengths)', { egress: [...RULES.egress, ...NINE_LENGTHS], ingress: [...RULES.ingress, ...NINE_LENGTHS] }, 'trie'],
] as const) {
  t.test(`rules: CIDRs, nesting, protocols, ports and ranges, both families; ${how}`, { skip }, async (t) => {
    const p = loadForTest(t);
    p.install(JSON.stringify(rules));
    const cfg = abi.decodeCfg(addon().bpfMapLookup(p.maps.cfg, Buffer.alloc(4), abi.CFG_SIZE)!);
    const active = cfg.lens?.[1];
    t.ok(active, 'the generation in force has its prefix lengths');
    for (const d of [0, 1]) for (const f of [0, 1]) t.equal(active![d]![f] === 'trie' ? 'trie' : 'hash', lens, `dir ${d} family ${f}: ${lens}`);
    for (const [name, spec, verdict, rule] of RULE_CASES) {
      const dir = spec.src === CTR4 || spec.src === CTR6 ? 'egress' : 'ingress';
      const r = p.test(dir, spec);
      t.equal(r.verdict, verdict, `${name}: ${verdict}`);
      if (rule !== undefined) t.equal(r.rule, rule, `${name}: rule ${rule}`);
    }
    if (lens === 'trie') t.match(p.test('egress', out('100.1.2.3', 'udp', 7)), { verdict: 'pass' }, 'the filler rules themselves hold');
  });
}

t.test('replies to allowed connections pass; others do not', { skip }, async (t) => {
  const p = loadForTest(t);
  p.install(JSON.stringify(RULES));
  const reply = inn('10.2.3.4', 'tcp', 40000, { sport: 80 });
  t.match(p.test('ingress', reply), { verdict: 'drop', reason: 'drop_policy' }, 'before the request: dropped');
  t.equal(p.run('egress', ethFrame(out('10.2.3.4', 'tcp', 80, { sport: 40000 }))), abi.VERDICT_PASS, 'request passes');
  t.match(p.test('ingress', reply), { verdict: 'pass', reason: 'pass_reply' }, 'the reply passes');
  t.match(p.test('ingress', { ...reply, dport: 40001 }), { verdict: 'drop' }, 'another port does not');
  t.match(p.test('ingress', { ...reply, src: '10.2.3.5' }), { verdict: 'drop' }, 'another host does not');
  // ICMP echo: the id ties request and reply.
  t.equal(p.run('egress', ethFrame(out('2001:db8::1', 'icmp', undefined, { icmpId: 7 }))), abi.VERDICT_PASS);
  t.match(p.test('ingress', inn('2001:db8::1', 'icmp', undefined, { icmpType: 129, icmpId: 7 })), { verdict: 'pass', reason: 'pass_reply' }, 'echo reply');
  t.match(p.test('ingress', inn('2001:db8::1', 'icmp', undefined, { icmpType: 129, icmpId: 8 })), { verdict: 'drop' }, 'other echo id');
  t.match(p.test('ingress', inn('2001:db8::1', 'icmp', undefined, { icmpType: 128, icmpId: 7 })), { verdict: 'drop' }, 'an echo request is no reply');
  // Server side: an ingress-allowed connection lets the container answer.
  t.equal(p.run('ingress', ethFrame(inn('10.9.9.9', 'tcp', 8080, { sport: 5555 }))), abi.VERDICT_PASS);
  t.match(p.test('egress', out('10.9.9.9', 'tcp', 5555, { sport: 8080 })), { verdict: 'pass', reason: 'pass_reply' }, 'the server answers');
});

// The connection table keeps the flows the rules allowed: later packets the
// same way skip the rules while the policy stays the same (the cheap path);
// a new policy makes them meet the rules again, and a policy that no longer
// allows a flow stops its replies too.
t.test('established flows skip the rules until the policy changes', { skip }, async (t) => {
  const p = loadForTest(t);
  p.install(JSON.stringify(RULES));
  const req = ethFrame(out('10.2.3.4', 'tcp', 80, { sport: 40000 }));
  const reply = inn('10.2.3.4', 'tcp', 40000, { sport: 80 });
  t.equal(p.run('egress', req), abi.VERDICT_PASS, 'the first packet passes by the rules');
  const flows = ctEntries(p);
  t.equal(flows.length, 1, 'one flow in the connection table');
  t.match(flows[0], { dir: abi.DIR_EGRESS, rule: 1, gen: 1 }, 'opened egress by rule 0, under the first install');
  // Take the rules out behind the program's back (no new generation).
  for (const [fd, size] of [[p.maps.cidr4, abi.CIDR4_KEY_SIZE], [p.maps.cidr6, abi.CIDR6_KEY_SIZE], [p.maps.cidrh, abi.CIDRH_KEY_SIZE]] as const) {
    for (let k = addon().bpfMapNextKey(fd, null, size); k; k = addon().bpfMapNextKey(fd, null, size)) addon().bpfMapDelete(fd, k);
  }
  t.equal(p.run('egress', req), abi.VERDICT_PASS, 'the flow passes without the rules');
  t.match(p.test('egress', out('10.2.3.4', 'tcp', 80, { sport: 40001 })), { verdict: 'drop' }, 'a new flow meets the (now empty) rules');
  // A new policy that still allows it, by another rule: the rules run again.
  p.install(JSON.stringify({ egress: [{ cidr: '10.2.0.0/16', proto: 'udp', ports: '53' }, { cidr: '10.2.3.0/24', proto: 'tcp', ports: '80' }] }));
  t.match(p.test('egress', out('10.2.3.4', 'tcp', 80, { sport: 40000 })), { verdict: 'pass', rule: 1 }, 'judged by the new rules');
  t.equal(p.run('egress', req), abi.VERDICT_PASS);
  t.match(ctEntries(p)[0], { dir: abi.DIR_EGRESS, rule: 2, gen: 2 }, 'the flow now carries the new rule and generation');
  t.match(p.test('ingress', reply), { verdict: 'pass', reason: 'pass_reply' }, 'replies still pass');
  // A policy that no longer allows it: the next packet is dropped and the flow is gone.
  p.install(JSON.stringify({ egress: [{ cidr: '8.8.8.8/32', proto: 'udp', ports: '53' }] }));
  t.equal(p.run('egress', req), abi.VERDICT_DROP, 'the flow is dropped under the new policy');
  t.equal(ctEntries(p).length, 0, 'and forgotten');
  t.match(p.test('ingress', reply), { verdict: 'drop', reason: 'drop_policy' }, 'its replies are dropped too');
});

t.test('IPv4 with options: the ports after them decide (not the common path)', { skip }, async (t) => {
  const p = loadForTest(t);
  p.install(JSON.stringify(RULES));
  t.equal(p.run('egress', withOptions(ethFrame(out('10.2.3.4', 'tcp', 80)))), abi.VERDICT_PASS, 'tcp 80 passes');
  t.equal(p.run('egress', withOptions(ethFrame(out('10.2.3.4', 'tcp', 22)))), abi.VERDICT_DROP, 'tcp 22 does not');
  t.equal(p.run('egress', withOptions(ethFrame(out('10.1.2.3', 'udp', 53)))), abi.VERDICT_PASS, 'udp 53 passes');
  t.equal(p.run('egress', withOptions(ethFrame({ ...out('10.2.3.4', 'tcp', 80), src: '10.213.0.99' }))), abi.VERDICT_DROP, 'a spoofed source is dropped');
  t.equal(p.counter('egress', abi.CNT_DROP_SPOOF).packets, 1n, '... as spoofed');
});

t.test('leaving allow-all: connections written from the sockets keep their replies', { skip }, async (t) => {
  const p = loadForTest(t);
  p.install('allow-all');
  const opened = (dport: number, sport: number, dir = abi.DIR_EGRESS) => ({
    family: 4 as const, proto: 6, caddr: Buffer.from([10, 213, 0, 2]), cport: sport, raddr: Buffer.from([10, 2, 3, 4]), rport: dport, dir,
  });
  const gen = readGenCount(p.maps);
  // Port 80 is allowed by the rules below, 22 is not; 8080 was opened by the remote.
  t.equal(seedFlows(p.maps, [opened(80, 40000), opened(22, 40001), opened(51000, 8080, abi.DIR_INGRESS)], gen, false), 3);
  p.install(JSON.stringify(RULES));
  t.match(p.test('ingress', inn('10.2.3.4', 'tcp', 40000, { sport: 80 })), { verdict: 'pass', reason: 'pass_reply' }, 'the answer to a connection opened under allow-all passes');
  t.match(p.test('ingress', inn('10.2.3.4', 'tcp', 40002, { sport: 80 })), { verdict: 'drop', reason: 'drop_policy' }, 'one to a connection that was not written does not: the check above could fail');
  t.match(p.test('egress', out('10.2.3.4', 'tcp', 51000, { sport: 8080 })), { verdict: 'pass', reason: 'pass_reply' }, 'a server connection: the container\'s answers pass');
  // Its next packet out meets the new rules: 80 is allowed and stays, 22 ends.
  t.equal(p.run('egress', ethFrame(out('10.2.3.4', 'tcp', 80, { sport: 40000 }))), abi.VERDICT_PASS);
  t.equal(p.run('egress', ethFrame(out('10.2.3.4', 'tcp', 22, { sport: 40001 }))), abi.VERDICT_DROP, 'a connection the new rules deny ends on its next packet');
  t.match(p.test('ingress', inn('10.2.3.4', 'tcp', 40001, { sport: 22 })), { verdict: 'drop' }, '... and its replies with it');
  t.match(p.test('ingress', inn('10.2.3.4', 'tcp', 40000, { sport: 80 })), { verdict: 'pass', reason: 'pass_reply' }, 'the allowed one goes on');
  const flows = ctEntries(p);
  t.equal(flows.length, 2, 'two connections left');
  t.ok(flows.some((f) => f.dir === abi.DIR_EGRESS && f.gen === gen + 1), 'the allowed one is now under the new policy');
  // The second pass of an apply leaves what the program wrote alone.
  t.equal(seedFlows(p.maps, [opened(80, 40000)], gen, true), 0, 'keepExisting: an entry that is there stays');
});

t.test('malformed packets are dropped even under allow-all', { skip }, async (t) => {
  const p = loadForTest(t);
  p.install('allow-all');
  const tcp4 = ethFrame(out('10.2.3.4', 'tcp', 80));
  const frames: Array<[string, Buffer]> = [
    ['truncated TCP header', tcp4.subarray(0, 14 + 20 + 10)],
    // (A truncated IPv4 header is refused by BPF_PROG_TEST_RUN itself: EINVAL.)
    ['IPv4 more-fragments', Buffer.from(tcp4).fill(0x20, 20, 21)],
    ['IPv4 fragment offset', (() => { const b = Buffer.from(tcp4); b.writeUInt16BE(0x0010, 20); return b; })()],
    ['IPv4 header length < 5', (() => { const b = Buffer.from(tcp4); b[14] = 0x44; return b; })()],
    ['IPv6 fragment header', (() => {
      const f = ethFrame(out('2001:db8::1', 'udp', 53));
      const frag = Buffer.from([17, 0, 0, 0, 0, 0, 0, 1]);
      const b = Buffer.concat([f.subarray(0, 54), frag, f.subarray(54)]);
      b[14 + 6] = 44;
      return b;
    })()],
    ['IPv4 version field 6', (() => { const b = Buffer.from(tcp4); b[14] = 0x65; return b; })()],
    ['IPv4 UDP header truncated', ethFrame(out('10.2.3.4', 'udp', 53)).subarray(0, 14 + 20 + 6)],
    ['IPv4 options, then a truncated TCP header', withOptions(tcp4).subarray(0, 14 + 24 + 12)],
    ['unknown ethertype', (() => { const b = Buffer.from(tcp4); b.writeUInt16BE(0x88cc, 12); return b; })()],
    ['IPv6 UDP header truncated', ethFrame(out('2001:db8::1', 'udp', 53)).subarray(0, 14 + 40 + 4)],
    ['IPv6 with too many extension headers', (() => {
      const f = ethFrame(out('2001:db8::1', 'udp', 53));
      const ext = Buffer.concat([0, 1, 2, 3, 4].map((i) => Buffer.from([i === 4 ? 17 : 60, 0, 0, 0, 0, 0, 0, 0])));
      const b = Buffer.concat([f.subarray(0, 54), ext, f.subarray(54)]);
      b[14 + 6] = 60;
      return b;
    })()],
  ];
  for (const [name, f] of frames) {
    t.equal(p.run('egress', f), abi.VERDICT_DROP, `${name}: dropped`);
  }
  t.equal(p.counter('egress', abi.CNT_DROP_MALFORMED).packets, BigInt(frames.length), 'each counted as malformed');
});

t.test('ARP and neighbour discovery only on L2 devices with a policy', { skip }, async (t) => {
  const p = loadForTest(t);
  const arp = arpFrame(CTR4, '10.213.0.1');
  p.install('allow-all', { neigh: false });
  t.equal(p.run('egress', arp), abi.VERDICT_DROP, 'no neighbour flag: ARP dropped');
  p.install('allow-all', { neigh: true });
  t.equal(p.run('egress', arp), abi.VERDICT_PASS, 'L2: ARP passes');
  t.equal(p.run('ingress', arpFrame('10.213.0.1', CTR4)), abi.VERDICT_PASS, 'ARP towards the container');
  t.equal(p.run('egress', arpFrame('10.213.0.77', '10.213.0.1')), abi.VERDICT_DROP, 'ARP with a spoofed sender is dropped');
  t.match(p.test('egress', { src: 'fe80::1', dst: 'ff02::1:ff00:1', proto: 'icmp', icmpType: 135 }), { verdict: 'pass', reason: 'pass_neigh' }, 'neighbour solicitation from link-local');
  t.match(p.test('egress', { src: 'fe80::1', dst: 'fd00::1', proto: 'udp' }), { verdict: 'drop', reason: 'drop_spoof' }, 'other traffic from link-local is spoofed');
});

t.test('counters by direction and reason, bytes included; dry runs count nothing', { skip }, async (t) => {
  const p = loadForTest(t);
  p.install(JSON.stringify(RULES));
  const pass = ethFrame(out('10.2.3.4', 'tcp', 80));
  const deny = ethFrame(out('8.8.8.8', 'tcp', 80));
  const spoof = ethFrame({ src: '10.0.0.1', dst: '10.2.3.4', proto: 'tcp', dport: 80 });
  for (let i = 0; i < 3; i++) p.run('egress', pass);
  for (let i = 0; i < 2; i++) p.run('egress', deny);
  p.run('egress', spoof);
  p.test('egress', out('10.2.3.4', 'tcp', 80));
  t.same(p.counter('egress', abi.CNT_PASS), { packets: 3n, bytes: BigInt(3 * pass.length) });
  t.same(p.counter('egress', abi.CNT_DROP_POLICY), { packets: 2n, bytes: BigInt(2 * deny.length) });
  t.same(p.counter('egress', abi.CNT_DROP_SPOOF), { packets: 1n, bytes: BigInt(spoof.length) });
  t.same(p.counter('ingress', abi.CNT_PASS), { packets: 0n, bytes: 0n });
});

t.test('a live update flips generations and removes the old entries', { skip }, async (t) => {
  const p = loadForTest(t);
  const r1 = p.install(JSON.stringify(RULES));
  const n1 = p.entries();
  t.equal(n1, r1.entries, 'only the active generation is in the maps');
  t.equal(p.test('egress', out('10.2.3.4', 'tcp', 80)).verdict, 'pass');
  const r2 = p.install(JSON.stringify({ egress: [{ cidr: '8.8.8.8/32', proto: 'udp', ports: '53' }] }));
  t.not(r2.gen, r1.gen, 'generation flipped');
  t.equal(r2.removed, n1, 'the old generation was removed');
  t.equal(p.entries(), r2.entries);
  t.equal(p.test('egress', out('10.2.3.4', 'tcp', 80)).verdict, 'drop', 'old rule gone');
  t.equal(p.test('egress', out('8.8.8.8', 'udp', 53)).verdict, 'pass', 'new rule in force');
  p.install('deny-all');
  t.equal(p.entries(), 0, 'deny-all has no entries');
  t.equal(p.test('egress', out('8.8.8.8', 'udp', 53)).verdict, 'drop');
});

t.test('10,000 rules per container', { skip }, async (t) => {
  const p = loadForTest(t);
  const egress = Array.from({ length: 10_000 }, (_, i) => ({
    cidr: i % 2 ? `10.${(i >> 8) & 255}.${i & 255}.0/24` : `2001:db8:${i.toString(16)}::/48`,
    proto: i % 3 ? 'tcp' : 'udp',
    ports: `${1000 + (i % 500)}`,
  }));
  const r = p.install(JSON.stringify({ egress }));
  t.ok(r.entries >= 10_000, `${r.entries} map entries`);
  for (const i of [1, 4999, 9999, 0, 5000, 9998]) {
    const rule = egress[i]!;
    const dst = rule.cidr.includes(':') ? rule.cidr.replace('::/48', '::1') : rule.cidr.replace('.0/24', '.7');
    const got = p.test('egress', out(dst, rule.proto as 'tcp' | 'udp', Number(rule.ports)));
    t.match(got, { verdict: 'pass', rule: i }, `rule ${i} (${rule.cidr} ${rule.proto} ${rule.ports})`);
    t.equal(p.test('egress', out(dst, rule.proto as 'tcp' | 'udp', Number(rule.ports) + 500)).verdict, 'drop', `rule ${i}: other port dropped`);
  }
  const again = p.install(JSON.stringify({ egress: egress.slice(0, 10) }));
  t.equal(again.removed, r.entries, 'replacing 10,000 rules removes every old entry');
  t.equal(p.entries(), again.entries);
});
