// bpf/nkit_abi.h and src/bpf/abi.ts must agree: every NKIT_* number, and
// the struct layouts as the compiled object's BTF records them.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import * as abi from '../../src/bpf/abi';
import * as C from '../../src/netlink/constants';
import { repoRoot } from '../lib/paths';
import { toolsSkipReason } from '../lib/skip';

const header = readFileSync(join(repoRoot, 'bpf', 'nkit_abi.h'), 'utf8');

// "#define NKIT_X 12" / "(-1)" / "0x1f"; guards without a value are skipped,
// anything else with a value is reported so it cannot slip past the check.
function headerDefines(): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of header.matchAll(/^#define[ \t]+(NKIT_\w+)(?:[ \t]+([^\n]*?))?[ \t]*(?:\/\*.*)?$/gm)) {
    const [, name, value] = m;
    if (value === undefined || value === '') continue;
    const num = /^\(?\s*(-?(?:0x[0-9a-f]+|\d+))\s*\)?$/i.exec(value);
    if (!num) throw new Error(`${name}: value "${value}" is not a plain number; extend this test`);
    out.set(name!.replace(/^NKIT_/, ''), Number(num[1]));
  }
  return out;
}

// TS numbers that are not #defines in the header, and where they are checked.
const TS_ONLY: Record<string, string> = {
  CFG_SIZE: 'struct nkit_cfg size, from BTF below',
  COUNTER_SIZE: 'struct nkit_counter size, from BTF below',
  CIDR4_KEY_SIZE: 'BTF below',
  CIDR6_KEY_SIZE: 'BTF below',
  CIDRH_KEY_SIZE: 'BTF below',
  CIDR_VAL_SIZE: 'BTF below',
  PORT_KEY_SIZE: 'BTF below',
  PORT_VAL_SIZE: 'BTF below',
  CT_KEY_SIZE: 'BTF below',
  CT_VAL_SIZE: 'BTF below',
  EVENT_SIZE: 'struct nkit_event size, from BTF below',
  BPF_FS_MAGIC: 'linux/magic.h, below',
  MAP_TYPE_HASH: 'linux/bpf.h; the templates in policy.bpf.o, below',
  MAP_TYPE_ARRAY: 'linux/bpf.h; below',
  MAP_TYPE_PERCPU_ARRAY: 'linux/bpf.h; below',
  MAP_TYPE_LRU_HASH: 'linux/bpf.h; below',
  MAP_TYPE_LPM_TRIE: 'linux/bpf.h; below',
  MAP_TYPE_ARRAY_OF_MAPS: 'linux/bpf.h; below',
  F_NO_PREALLOC: 'linux/bpf.h; below',
};

t.test('every NKIT_* define has the same value in abi.ts, and vice versa', async (t) => {
  const defs = headerDefines();
  t.ok(defs.size >= 16, `found ${defs.size} defines`);
  t.equal(defs.get('VERDICT_NEXT'), -1, 'parenthesised negatives parse');
  const ts = abi as unknown as Record<string, unknown>;
  for (const [name, value] of defs) t.equal(ts[name], value, `NKIT_${name}`);
  const tsNumbers = Object.keys(ts).filter((k) => typeof ts[k] === 'number');
  t.same(tsNumbers.filter((k) => !defs.has(k) && !(k in TS_ONLY)), [], 'no TS number without a header twin');
});

t.test('verdicts are netkit\'s and tcx\'s numbers', async (t) => {
  t.equal(abi.VERDICT_NEXT, C.NETKIT_NEXT);
  t.equal(abi.VERDICT_PASS, C.NETKIT_PASS);
  t.equal(abi.VERDICT_DROP, C.NETKIT_DROP);
  t.equal(abi.VERDICT_REDIRECT, C.NETKIT_REDIRECT);
});

t.test('BPF_FS_MAGIC matches linux/magic.h', { skip: existsSync('/usr/include/linux/magic.h') ? false : 'no linux/magic.h' }, async (t) => {
  const m = /#define\s+BPF_FS_MAGIC\s+(0x[0-9a-f]+)/i.exec(readFileSync('/usr/include/linux/magic.h', 'utf8'));
  t.equal(Number(m?.[1]), abi.BPF_FS_MAGIC);
});

interface BtfType { kind: string; name: string; attrs: Record<string, number>; members: Array<{ name: string; attrs: Record<string, number> }> }
// Parses `bpftool btf dump file X format raw`.
function btf(file: string): Map<number, BtfType> {
  const out = new Map<number, BtfType>();
  let cur: BtfType | undefined;
  const attrs = (s: string) => Object.fromEntries([...s.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  for (const line of execFileSync('bpftool', ['btf', 'dump', 'file', file, 'format', 'raw'], { encoding: 'utf8' }).split('\n')) {
    const ty = /^\[(\d+)\] (\w+) '([^']*)'(.*)$/.exec(line);
    if (ty) out.set(Number(ty[1]), (cur = { kind: ty[2]!, name: ty[3]!, attrs: attrs(ty[4]!), members: [] }));
    const mem = /^\t'([^']*)' (.*)$/.exec(line);
    if (mem && cur) cur.members.push({ name: mem[1]!, attrs: attrs(mem[2]!) });
  }
  return out;
}

t.test('struct layouts in policy.bpf.o (BTF) match abi.ts', { skip: toolsSkipReason(['bpftool']) }, async (t) => {
  // The structs, from the object that holds them whole (bpf/abi-types.bpf.c).
  const types = btf(join(repoRoot, 'bpf', 'abi-types.bpf.o'));
  const byName = (kind: string, name: string) => [...types.values()].find((x) => x.kind === kind && x.name === name);
  const cfg = byName('STRUCT', 'nkit_cfg')!;
  t.equal(cfg.attrs.size, abi.CFG_SIZE, 'CFG_SIZE');
  t.equal(byName('STRUCT', 'nkit_counter')!.attrs.size, abi.COUNTER_SIZE, 'COUNTER_SIZE');

  // The header's field order is the object's (catches a stale .o).
  const fields = [.../struct nkit_cfg \{([^}]*)\}/.exec(header)![1]!.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/\b(\w+)(?:\[\w+\])*;/g)].map((m) => m[1]);
  t.same(cfg.members.map((m) => m.name), fields, 'header and BTF list the same fields');
  const off = Object.fromEntries(cfg.members.map((m) => [m.name, m.attrs.bits_offset! / 8]));
  // Distinct values at every offset the codec writes, read back where BTF says.
  const b = abi.encodeCfg({
    l3Offset: 14, flags: abi.CFG_F_NEIGH,
    defaultAction: [[abi.DEFAULT_ALLOW, abi.DEFAULT_DENY], [abi.DEFAULT_DENY, abi.DEFAULT_ALLOW]],
    addr4: Buffer.from([10, 213, 0, 2]), addr6: Buffer.from('fd6e6b69007400000000000000000002', 'hex'),
  });
  t.equal(b.readUInt32LE(off.l3_offset!), 14);
  t.equal(b.readUInt32LE(off.flags!), abi.CFG_F_NEIGH);
  const da = (g: number, d: number) => b.readUInt32LE(off.default_action! + 4 * (g * abi.NDIRS + d));
  t.equal(da(0, abi.DIR_INGRESS), abi.DEFAULT_ALLOW, 'gen 0 ingress');
  t.equal(da(0, abi.DIR_EGRESS), abi.DEFAULT_DENY, 'gen 0 egress');
  t.equal(da(1, abi.DIR_INGRESS), abi.DEFAULT_DENY, 'gen 1 ingress');
  t.equal(da(1, abi.DIR_EGRESS), abi.DEFAULT_ALLOW, 'gen 1 egress');
  t.equal(b.subarray(off.addr4!, off.addr4! + 4).toString('hex'), '0ad50002', 'addr4 in network order');
  t.equal(b.subarray(off.addr6!, off.addr6! + 16).toString('hex'), 'fd6e6b69007400000000000000000002');
  t.equal(b.readUInt32LE(off.capture_tag!), 0, 'capture tag unset');
  t.equal(abi.encodeCfg({ l3Offset: 14, flags: 0, defaultAction: [[0, 0], [0, 0]], captureTag: 77 }).readUInt32LE(off.capture_tag!), 77, 'capture tag');
  // nlens[gen][dir][family] and lens[gen][dir][family][i], where BTF puts them.
  const l = abi.encodeCfg({ l3Offset: 14, flags: 0, defaultAction: [[0, 0], [0, 0]], lens: [undefined, [[[], []], [[32], [128, 64]]]] });
  const at = (1 * abi.NDIRS + abi.DIR_EGRESS) * 2 + 1;
  t.equal(l[off.nlens! + at], 2, 'nlens[1][egress][v6]');
  t.same([l[off.lens! + at * abi.MAX_LENS], l[off.lens! + at * abi.MAX_LENS + 1]], [128, 64], 'lens[1][egress][v6]');
  t.equal(l[off.nlens! + at - 1], 1, 'nlens[1][egress][v4]');
  t.equal(l[off.lens! + (at - 1) * abi.MAX_LENS], 32, 'lens[1][egress][v4][0]');
  // struct nkit_event, as decodeEvent reads it.
  const ev = byName('STRUCT', 'nkit_event')!;
  t.equal(ev.attrs.size, abi.EVENT_SIZE, 'EVENT_SIZE');
  const eo = Object.fromEntries(ev.members.map((m) => [m.name, m.attrs.bits_offset! / 8]));
  t.same([eo.ts_ns, eo.tag, eo.len, eo.caplen, eo.rule, eo.dir, eo.slot, eo.data], [0, 8, 12, 16, 20, 24, 25, 32], 'event field offsets');
  // Key and value sizes of the rule maps and the connection table.
  const size = (n: string) => byName('STRUCT', n)!.attrs.size;
  t.equal(size('nkit_cidr4_key'), abi.CIDR4_KEY_SIZE);
  t.equal(size('nkit_cidr6_key'), abi.CIDR6_KEY_SIZE);
  t.equal(size('nkit_cidrh_key'), abi.CIDRH_KEY_SIZE);
  const hk = Object.fromEntries(byName('STRUCT', 'nkit_cidrh_key')!.members.map((m) => [m.name, m.attrs.bits_offset! / 8]));
  const h4 = abi.encodeCidrhKey(1, abi.DIR_EGRESS, Buffer.from([10, 1, 0, 0]), 16);
  t.same([h4[hk.gen!], h4[hk.dir!], h4[hk.family!], h4[hk.len!]], [1, abi.DIR_EGRESS, 4, 16]);
  t.equal(h4.subarray(hk.addr!, hk.addr! + 16).toString('hex'), '0a010000' + '00'.repeat(12), 'IPv4 in the first 4 bytes, zeros after');
  t.equal(size('nkit_cidr_val'), abi.CIDR_VAL_SIZE);
  t.equal(size('nkit_port_key'), abi.PORT_KEY_SIZE);
  t.equal(size('nkit_port_val'), abi.PORT_VAL_SIZE);
  t.equal(size('nkit_ct_key'), abi.CT_KEY_SIZE);
  t.equal(size('nkit_ct_val'), abi.CT_VAL_SIZE);
  const pk = Object.fromEntries(byName('STRUCT', 'nkit_port_key')!.members.map((m) => [m.name, m.attrs.bits_offset! / 8]));
  const k = abi.encodePortKey(1, abi.DIR_EGRESS, 6, 0x01020304, 8080, 13);
  t.equal(k.readUInt32LE(pk.prefixlen!), 64 + 13, 'prefixlen counts the 64 fixed bits');
  t.same([k[pk.gen!], k[pk.dir!], k[pk.proto!]], [1, abi.DIR_EGRESS, 6]);
  t.equal(k.readUInt32BE(pk.set_id!), 0x01020304, 'set id big-endian');
  t.equal(k.readUInt16BE(pk.port!), 8080, 'port big-endian');
  const ck = Object.fromEntries(byName('STRUCT', 'nkit_cidr4_key')!.members.map((m) => [m.name, m.attrs.bits_offset! / 8]));
  const c4 = abi.encodeCidrKey(1, abi.DIR_INGRESS, Buffer.from([10, 0, 0, 0]), 8);
  t.equal(c4.readUInt32LE(ck.prefixlen!), 40);
  t.same([c4[ck.gen!], c4[ck.dir!]], [1, abi.DIR_INGRESS]);
  t.equal(c4.subarray(ck.addr!, ck.addr! + 4).toString('hex'), '0a000000');
});

t.test('the per-container map templates in policy.bpf.o are MAP_SPECS', { skip: toolsSkipReason(['bpftool']) }, async (t) => {
  const types = btf(join(repoRoot, 'bpf', 'policy.bpf.o'));
  const byName = (kind: string, name: string) => [...types.values()].find((x) => x.kind === kind && x.name === name);
  // __uint(name, N) is `int (*name)[N]`: member -> PTR -> ARRAY nr_elems.
  const uints = (def: BtfType): Record<string, number> =>
    Object.fromEntries(def.members.map((m) => {
      const ptr = types.get(m.attrs.type_id!)!;
      const arr = types.get(ptr.attrs.type_id!);
      return [m.name, arr?.kind === 'ARRAY' ? arr.attrs.nr_elems! : NaN];
    }));
  const inner: Record<abi.MapKind, string> = { cfg: 'inner_cfg', gen: 'inner_gen', counters: 'inner_counters', cidr4: 'inner_cidr4', cidr6: 'inner_cidr6', cidrh: 'inner_cidrh', ports: 'inner_ports', ct: 'inner_ct' };
  for (const k of abi.MAP_KINDS) {
    const spec = abi.MAP_SPECS[k];
    const tpl = uints(byName('STRUCT', inner[k])!);
    t.same(
      { type: tpl.type, key: tpl.key_size, value: tpl.value_size, max: tpl.max_entries, flags: tpl.map_flags ?? 0 },
      { type: spec.type, key: spec.keySize, value: spec.valueSize, max: spec.maxEntries, flags: spec.flags },
      `${k}: template ${inner[k]}`,
    );
    // The array of maps that holds it.
    const outer = uints(types.get(byName('VAR', spec.slotMap)!.attrs.type_id!)!);
    t.same([outer.type, outer.max_entries], [abi.MAP_TYPE_ARRAY_OF_MAPS, abi.MAX_SLOTS], `${spec.slotMap}: array of ${abi.MAX_SLOTS} maps`);
  }
});

t.test('slots and ifindexes', async (t) => {
  t.equal(abi.slotIfindex(0), abi.IFINDEX_BASE);
  t.equal(abi.ifindexSlot(abi.slotIfindex(abi.MAX_SLOTS - 1)), abi.MAX_SLOTS - 1);
  t.equal(abi.ifindexSlot(abi.IFINDEX_BASE - 1), undefined);
  t.equal(abi.ifindexSlot(abi.IFINDEX_BASE + abi.MAX_SLOTS), undefined);
  t.ok(abi.slotIfindex(abi.MAX_SLOTS - 1) <= 0x7fffffff, 'every slot\'s ifindex fits the kernel\'s int');
});

t.test('encodeCfg / decodeCfg round trip', async (t) => {
  const full: abi.PolicyCfg = {
    l3Offset: 0, flags: 0, defaultAction: [[abi.DEFAULT_DENY, abi.DEFAULT_ALLOW], [abi.DEFAULT_ALLOW, abi.DEFAULT_ALLOW]],
    addr4: Buffer.from([192, 0, 2, 1]), addr6: Buffer.from('20010db8000000000000000000000001', 'hex'),
  };
  t.same(abi.decodeCfg(abi.encodeCfg(full)), full);
  t.equal(abi.encodeCfg(full).length, abi.CFG_SIZE);
  const bare: abi.PolicyCfg = { l3Offset: 14, flags: abi.CFG_F_NEIGH, defaultAction: [[abi.DEFAULT_ALLOW, abi.DEFAULT_DENY], [abi.DEFAULT_DENY, abi.DEFAULT_DENY]] };
  t.same(abi.decodeCfg(abi.encodeCfg(bare)), bare, 'absent addresses stay absent');
  t.equal(abi.encodeCfg(bare).subarray(24).toString('hex'), '00'.repeat(abi.CFG_SIZE - 24));
  const withLens: abi.PolicyCfg = { ...bare, lens: [undefined, [[[32, 24], 'trie'], [[], [128, 64, 0]]]] };
  t.same(abi.decodeCfg(abi.encodeCfg(withLens)), withLens, 'prefix lengths per generation, direction and family');
  t.throws(() => abi.encodeCfg({ ...bare, lens: [[[[1, 2, 3, 4, 5, 6, 7, 8, 9], []], [[], []]], undefined] }), /at most 8/);
  t.same(abi.decodeCfg(Buffer.alloc(abi.CFG_SIZE)), { l3Offset: 0, flags: 0, defaultAction: [[abi.DEFAULT_DENY, abi.DEFAULT_DENY], [abi.DEFAULT_DENY, abi.DEFAULT_DENY]] },
    'a zero-filled entry denies both ways in both generations');
});

t.test('per-CPU counters and keys', async (t) => {
  const b = Buffer.alloc(abi.COUNTER_SIZE * 3);
  [[1n, 100n], [2n, 200n], [(1n << 40n), 5n]].forEach(([p, by], i) => {
    b.writeBigUInt64LE(p!, i * 16);
    b.writeBigUInt64LE(by!, i * 16 + 8);
  });
  t.same(abi.sumPerCpuCounter(b), { packets: 3n + (1n << 40n), bytes: 305n });
  t.same(abi.sumPerCpuCounter(Buffer.alloc(0)), { packets: 0n, bytes: 0n });
  t.same([0, 1].flatMap((d) => [abi.CNT_PASS, abi.CNT_DROP_POLICY].map((s) => abi.counterKey(d, s))), [0, 1, abi.NCNT, abi.NCNT + 1]);
});
