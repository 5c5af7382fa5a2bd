// The TypeScript side of bpf/nkit_abi.h: the same numbers (a unit test
// checks they agree) and Buffer codecs for the shared structs.

export const VERDICT_NEXT = -1;
export const VERDICT_PASS = 0;
export const VERDICT_DROP = 2;
export const VERDICT_REDIRECT = 7;

export const ATTACH_TCX_INGRESS = 46;
export const ATTACH_TCX_EGRESS = 47;
export const ATTACH_NETKIT_PRIMARY = 54;
export const ATTACH_NETKIT_PEER = 55;

export const DIR_INGRESS = 0;
export const DIR_EGRESS = 1;
export const NDIRS = 2;

export const CNT_PASS = 0;
export const CNT_DROP_POLICY = 1;
export const CNT_DROP_SPOOF = 2;
export const CNT_DROP_MALFORMED = 3;
export const CNT_PASS_REPLY = 4;
export const CNT_PASS_NEIGH = 5;
export const NCNT = 6;

export const DEFAULT_DENY = 0;
export const DEFAULT_ALLOW = 1;
export const DEFAULT_BLACKHOLE = 2;
export const MAX_LENS = 8;
export const LENS_TRIE = 0xff;

export const CFG_F_NEIGH = 1;
export const CFG_F_CAPTURE_INGRESS = 2;
export const CFG_F_CAPTURE_EGRESS = 4;
export const CAPTURE_SNAPLEN = 256;
export const EVENT_SIZE = 288;
export const MAP_EVENTS = 'nkit_events';
export const NGENS = 2;
export const PROTO_ANY = 0;
export const DRYRUN_MARK = 0x6e6b7400;

export const CFG_SIZE = 120;
export const COUNTER_SIZE = 16;
export const CIDR4_KEY_SIZE = 12;
export const CIDR6_KEY_SIZE = 24;
export const CIDRH_KEY_SIZE = 20;
export const CIDR_VAL_SIZE = 4;
export const PORT_KEY_SIZE = 16;
export const PORT_VAL_SIZE = 4;
export const CT_KEY_SIZE = 40;
export const CT_VAL_SIZE = 24;

export const BPF_FS_MAGIC = 0xcafe4a11;

export const IFINDEX_BASE = 0x6e6b0000;
export const MAX_SLOTS = 16384;
export const CIDR_MAX = 65536;
export const PORTS_MAX = 262144;

// Names of the programs in bpf/policy.bpf.c.
export const PROG_EGRESS = 'nkit_egress';
export const PROG_INGRESS = 'nkit_ingress';

// BPF map types and flags (linux/bpf.h).
export const MAP_TYPE_HASH = 1;
export const MAP_TYPE_ARRAY = 2;
export const MAP_TYPE_PERCPU_ARRAY = 6;
export const MAP_TYPE_LRU_HASH = 9;
export const MAP_TYPE_LPM_TRIE = 11;
export const MAP_TYPE_ARRAY_OF_MAPS = 12;
export const F_NO_PREALLOC = 1;

/** The kinds of a container's maps. */
export type MapKind = 'cfg' | 'gen' | 'counters' | 'cidr4' | 'cidr6' | 'cidrh' | 'ports' | 'ct';

export interface MapSpec {
  /** The container's map (and, in bpffs, its pin is map_<kind>). */
  name: string;
  /** The program's array of maps that holds it at the container's slot. */
  slotMap: string;
  type: number;
  keySize: number;
  valueSize: number;
  /** ct: the config's conntrackSize. */
  maxEntries: number;
  flags: number;
}

// A container's maps: what the templates in bpf/policy.bpf.c say (the
// kernel refuses a map that differs when it goes into its slot).
export const MAP_SPECS: Record<MapKind, MapSpec> = {
  cfg: { name: 'nkit_cfg', slotMap: 'nkit_slot_cfg', type: MAP_TYPE_ARRAY, keySize: 4, valueSize: CFG_SIZE, maxEntries: 1, flags: 0 },
  gen: { name: 'nkit_gen', slotMap: 'nkit_slot_gen', type: MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0 },
  counters: { name: 'nkit_counters', slotMap: 'nkit_slot_cnt', type: MAP_TYPE_PERCPU_ARRAY, keySize: 4, valueSize: COUNTER_SIZE, maxEntries: NDIRS * NCNT, flags: 0 },
  cidr4: { name: 'nkit_cidr4', slotMap: 'nkit_slot_cidr4', type: MAP_TYPE_LPM_TRIE, keySize: CIDR4_KEY_SIZE, valueSize: CIDR_VAL_SIZE, maxEntries: CIDR_MAX, flags: F_NO_PREALLOC },
  cidr6: { name: 'nkit_cidr6', slotMap: 'nkit_slot_cidr6', type: MAP_TYPE_LPM_TRIE, keySize: CIDR6_KEY_SIZE, valueSize: CIDR_VAL_SIZE, maxEntries: CIDR_MAX, flags: F_NO_PREALLOC },
  cidrh: { name: 'nkit_cidrh', slotMap: 'nkit_slot_cidrh', type: MAP_TYPE_HASH, keySize: CIDRH_KEY_SIZE, valueSize: CIDR_VAL_SIZE, maxEntries: 2 * CIDR_MAX, flags: F_NO_PREALLOC },
  ports: { name: 'nkit_ports', slotMap: 'nkit_slot_ports', type: MAP_TYPE_LPM_TRIE, keySize: PORT_KEY_SIZE, valueSize: PORT_VAL_SIZE, maxEntries: PORTS_MAX, flags: F_NO_PREALLOC },
  ct: { name: 'nkit_ct', slotMap: 'nkit_slot_ct', type: MAP_TYPE_LRU_HASH, keySize: CT_KEY_SIZE, valueSize: CT_VAL_SIZE, maxEntries: 8192, flags: 0 },
};
export const MAP_KINDS = Object.keys(MAP_SPECS) as MapKind[];

// The ifindex of the host device of a slot, and back.
export const slotIfindex = (slot: number): number => IFINDEX_BASE + slot;
export const ifindexSlot = (ifindex: number): number | undefined =>
  ifindex >= IFINDEX_BASE && ifindex < IFINDEX_BASE + MAX_SLOTS ? ifindex - IFINDEX_BASE : undefined;

export type DefaultAction = typeof DEFAULT_DENY | typeof DEFAULT_ALLOW | typeof DEFAULT_BLACKHOLE;

/** [direction][family: 0 IPv4, 1 IPv6]: the prefix lengths, longest first, or 'trie'. */
export type Lens = [[number[] | 'trie', number[] | 'trie'], [number[] | 'trie', number[] | 'trie']];

export interface PolicyCfg {
  /** Bytes before the IP header: 0 on netkit l3, 14 on ethernet devices. */
  l3Offset: number;
  flags: number;
  /** [generation][direction] */
  defaultAction: [[DefaultAction, DefaultAction], [DefaultAction, DefaultAction]];
  /** The container's own addresses, network order (for anti-spoofing). */
  addr4?: Buffer;
  addr6?: Buffer;
  /** Tells this container's captured packets apart in the shared ring. */
  captureTag?: number;
  /** [generation]: the prefix lengths the rules of that generation use (absent: none). */
  lens?: [Lens | undefined, Lens | undefined];
}

const CFG_DEFAULTS = 8;
const CFG_NLENS = 48;
const CFG_LENS = 56;
const noLens = (): Lens => [[[], []], [[], []]];

// Encodes struct nkit_cfg.
export function encodeCfg(c: PolicyCfg): Buffer {
  const b = Buffer.alloc(CFG_SIZE);
  b.writeUInt32LE(c.l3Offset, 0);
  b.writeUInt32LE(c.flags >>> 0, 4);
  for (let g = 0; g < NGENS; g++) for (let d = 0; d < NDIRS; d++) b.writeUInt32LE(c.defaultAction[g]![d]!, CFG_DEFAULTS + 4 * (g * NDIRS + d));
  if (c.addr4) c.addr4.copy(b, 24, 0, 4);
  if (c.addr6) c.addr6.copy(b, 28, 0, 16);
  b.writeUInt32LE((c.captureTag ?? 0) >>> 0, 44);
  for (let g = 0; g < NGENS; g++) {
    const lens = c.lens?.[g] ?? noLens();
    for (let d = 0; d < NDIRS; d++) {
      for (let f = 0; f < 2; f++) {
        const l = lens[d]![f]!;
        const i = (g * NDIRS + d) * 2 + f;
        if (l !== 'trie' && l.length > MAX_LENS) throw new RangeError(`${l.length} prefix lengths: at most ${MAX_LENS} (else 'trie')`);
        b[CFG_NLENS + i] = l === 'trie' ? LENS_TRIE : l.length;
        if (l !== 'trie') l.forEach((len, j) => (b[CFG_LENS + i * MAX_LENS + j] = len));
      }
    }
  }
  return b;
}

// Decodes struct nkit_cfg.
export function decodeCfg(b: Buffer): PolicyCfg {
  const act = (g: number, d: number): DefaultAction => {
    const v = b.readUInt32LE(CFG_DEFAULTS + 4 * (g * NDIRS + d));
    return v === DEFAULT_ALLOW || v === DEFAULT_BLACKHOLE ? v : DEFAULT_DENY;
  };
  const out: PolicyCfg = {
    l3Offset: b.readUInt32LE(0),
    flags: b.readUInt32LE(4),
    defaultAction: [[act(0, 0), act(0, 1)], [act(1, 0), act(1, 1)]],
  };
  const a4 = b.subarray(24, 28);
  const a6 = b.subarray(28, 44);
  if (a4.some((x) => x !== 0)) out.addr4 = Buffer.from(a4);
  if (a6.some((x) => x !== 0)) out.addr6 = Buffer.from(a6);
  const tag = b.readUInt32LE(44);
  if (tag) out.captureTag = tag;
  const lensOf = (g: number): Lens | undefined => {
    const l = noLens();
    let any = false;
    for (let d = 0; d < NDIRS; d++) {
      for (let f = 0; f < 2; f++) {
        const i = (g * NDIRS + d) * 2 + f;
        const n = b[CFG_NLENS + i]!;
        if (n) any = true;
        l[d]![f] = n === LENS_TRIE ? 'trie' : [...b.subarray(CFG_LENS + i * MAX_LENS, CFG_LENS + i * MAX_LENS + Math.min(n, MAX_LENS))];
      }
    }
    return any ? l : undefined;
  };
  const l0 = lensOf(0);
  const l1 = lensOf(1);
  if (l0 || l1) out.lens = [l0, l1];
  return out;
}

export interface CapturedPacket {
  tsNs: bigint;
  tag: number;
  len: number;
  rule: number;
  dir: number;
  slot: number;
  data: Buffer;
}

// Decodes struct nkit_event.
export function decodeEvent(b: Buffer): CapturedPacket {
  const caplen = Math.min(b.readUInt32LE(16), CAPTURE_SNAPLEN);
  return {
    tsNs: b.readBigUInt64LE(0),
    tag: b.readUInt32LE(8),
    len: b.readUInt32LE(12),
    rule: b.readUInt32LE(20),
    dir: b[24]!,
    slot: b[25]!,
    data: Buffer.from(b.subarray(32, 32 + caplen)),
  };
}

// struct nkit_cidr4_key / nkit_cidr6_key for a prefix of `len` bits.
export function encodeCidrKey(gen: number, dir: number, addr: Buffer, len: number): Buffer {
  const b = Buffer.alloc(addr.length === 4 ? CIDR4_KEY_SIZE : CIDR6_KEY_SIZE);
  b.writeUInt32LE(32 + len, 0);
  b[4] = gen;
  b[5] = dir;
  addr.copy(b, 8);
  return b;
}

// struct nkit_cidrh_key: an address masked to len bits (IPv4 in bytes 4-7).
export function encodeCidrhKey(gen: number, dir: number, addr: Buffer, len: number): Buffer {
  const b = Buffer.alloc(CIDRH_KEY_SIZE);
  b[0] = gen;
  b[1] = dir;
  b[2] = addr.length === 4 ? 4 : 6;
  b[3] = len;
  addr.copy(b, 4);
  return b;
}

export function encodeU32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

/** A connection as the table keys it: the container's end first. */
export interface CtFlow {
  family: 4 | 6;
  /** IPPROTO_TCP (6) or IPPROTO_UDP (17). */
  proto: number;
  /** 4 or 16 bytes, network order. */
  caddr: Buffer;
  cport: number;
  raddr: Buffer;
  rport: number;
}

// struct nkit_ct_key (IPv4 addresses in the first 4 bytes, ports big-endian).
export function encodeCtKey(f: CtFlow): Buffer {
  const b = Buffer.alloc(CT_KEY_SIZE);
  b[0] = f.family;
  b[1] = f.proto;
  b.writeUInt16BE(f.cport, 4);
  b.writeUInt16BE(f.rport, 6);
  f.caddr.copy(b, 8);
  f.raddr.copy(b, 24);
  return b;
}

export interface CtVal {
  lastSeenNs: bigint;
  gen: number;
  rule: number;
  dir: number;
}

// struct nkit_ct_val.
export function encodeCtVal(v: CtVal): Buffer {
  const b = Buffer.alloc(CT_VAL_SIZE);
  b.writeBigUInt64LE(v.lastSeenNs, 0);
  b.writeUInt32LE(v.gen >>> 0, 8);
  b.writeUInt32LE(v.rule >>> 0, 12);
  b[16] = v.dir;
  return b;
}

export function decodeCtVal(b: Buffer): CtVal {
  return { lastSeenNs: b.readBigUInt64LE(0), gen: b.readUInt32LE(8), rule: b.readUInt32LE(12), dir: b[16]! };
}

// struct nkit_port_key: port prefix of portLen bits (0: any port).
export function encodePortKey(gen: number, dir: number, proto: number, setId: number, port: number, portLen: number): Buffer {
  const b = Buffer.alloc(PORT_KEY_SIZE);
  b.writeUInt32LE(64 + portLen, 0);
  b[4] = gen;
  b[5] = dir;
  b[6] = proto;
  b.writeUInt32BE(setId >>> 0, 8);
  b.writeUInt16BE(port, 12);
  return b;
}


export interface Counter {
  packets: bigint;
  bytes: bigint;
}

// Sums a per-CPU struct nkit_counter value (one 8-aligned slot per CPU).
export function sumPerCpuCounter(b: Buffer): Counter {
  let packets = 0n, bytes = 0n;
  for (let off = 0; off + COUNTER_SIZE <= b.length; off += COUNTER_SIZE) {
    packets += b.readBigUInt64LE(off);
    bytes += b.readBigUInt64LE(off + 8);
  }
  return { packets, bytes };
}

// The counters map key for a direction and slot.
export const counterKey = (dir: number, slot: number): number => dir * NCNT + slot;

export const COUNTER_SLOTS: Record<string, number> = {
  pass: CNT_PASS,
  pass_reply: CNT_PASS_REPLY,
  pass_neigh: CNT_PASS_NEIGH,
  drop_policy: CNT_DROP_POLICY,
  drop_spoof: CNT_DROP_SPOOF,
  drop_malformed: CNT_DROP_MALFORMED,
};
