// Compiling a policy into the BPF maps' entries (pure). Per direction and
// family, every distinct CIDR gets the port set made of its own rules and
// those of every CIDR that contains it, so the program needs one longest-
// prefix lookup for the address and one for (set, proto, port), whatever the
// number of rules. Identical sets share an id; port ranges become prefixes.
import * as abi from '../bpf/abi';
import { Family, addressBytes, familyBits } from '../ipam/cidr';
import { Direction, Policy, Proto, Rule } from './rules';

export interface CidrEntry {
  dir: number;
  family: Family;
  addr: Buffer;
  len: number;
  setId: number;
}

export interface PortEntry {
  dir: number;
  proto: number;
  setId: number;
  port: number;
  portLen: number;
  /** Index of the first rule (in its direction) that allows this entry. */
  rule: number;
}

export interface CompiledPolicy {
  defaultAction: [abi.DefaultAction, abi.DefaultAction];
  /** Per direction and family, the prefix lengths the cidrs use, longest
   * first: the program tries each with a hash lookup; with more than
   * MAX_LENS of them the cidrs go into the LPM tries ('trie'). */
  lens: abi.Lens;
  cidrs: CidrEntry[];
  ports: PortEntry[];
  sets: number;
}

const PROTO_NUM: Record<Exclude<Proto, 'icmp'>, number> = { tcp: 6, udp: 17, any: abi.PROTO_ANY };
const protoNum = (p: Proto, family: Family): number => (p === 'icmp' ? (family === 4 ? 1 : 58) : PROTO_NUM[p]);

// Splits an inclusive port range into (port, prefix length) blocks.
export function rangeToPrefixes(lo: number, hi: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let cur = lo;
  while (cur <= hi) {
    let size = 1;
    while (size < 65536 && cur % (size * 2) === 0 && cur + size * 2 - 1 <= hi) size *= 2;
    out.push([cur, 16 - Math.log2(size)]);
    cur += size;
  }
  return out;
}

interface Item {
  proto: number;
  port: number;
  portLen: number;
  rule: number;
}

function itemsOf(r: Rule, family: Family): Item[] {
  const proto = protoNum(r.proto, family);
  if (!r.ports) return [{ proto, port: 0, portLen: 0, rule: r.index }];
  return r.ports.flatMap(([lo, hi]) => rangeToPrefixes(lo, hi).map(([port, portLen]) => ({ proto, port, portLen, rule: r.index })));
}

interface TrieNode {
  children: [TrieNode | undefined, TrieNode | undefined];
  /** Set key of the prefix ending here, if one does. */
  items?: Map<string, Item>;
}

const itemKey = (i: Item): string => `${i.proto}/${i.port}/${i.portLen}`;

// Compiles one direction of one family; set ids come from `intern`.
function compileFamily(rules: Rule[], family: Family, dir: number, intern: (items: Map<string, Item>) => number, out: CompiledPolicy): void {
  const byPrefix = new Map<string, { network: bigint; len: number; items: Item[] }>();
  for (const r of rules) {
    if (r.cidr.family !== family) continue;
    const k = `${r.cidr.network}/${r.cidr.prefixLen}`;
    const e = byPrefix.get(k) ?? { network: r.cidr.network, len: r.cidr.prefixLen, items: [] };
    e.items.push(...itemsOf(r, family));
    byPrefix.set(k, e);
  }
  const bits = familyBits(family);
  const root: TrieNode = { children: [undefined, undefined] };
  // Shorter prefixes first, so every prefix finds its ancestors in place.
  for (const p of [...byPrefix.values()].sort((a, b) => a.len - b.len)) {
    let node = root;
    let inherited = root.items;
    for (let i = 0; i < p.len; i++) {
      const bit = Number((p.network >> BigInt(bits - 1 - i)) & 1n);
      node = node.children[bit] ??= { children: [undefined, undefined] };
      if (node.items && i < p.len - 1) inherited = node.items;
    }
    if (p.len === 0) inherited = undefined;
    const items = new Map(inherited ?? []);
    for (const it of p.items) {
      const k = itemKey(it);
      const prev = items.get(k);
      if (!prev || it.rule < prev.rule) items.set(k, it);
    }
    node.items = items;
    out.cidrs.push({ dir, family, addr: addressBytes(family, p.network), len: p.len, setId: intern(items) });
  }
}

// Compiles a policy into map entries (for one generation; the writer adds it).
export function compilePolicy(p: Policy): CompiledPolicy {
  // No rule in either direction and not allow-all: deny-all, which the
  // program drops before it looks anything up (replies included).
  const none = !p.allowAll && p.ingress.length === 0 && p.egress.length === 0;
  const allow = p.allowAll ? abi.DEFAULT_ALLOW : none ? abi.DEFAULT_BLACKHOLE : abi.DEFAULT_DENY;
  const out: CompiledPolicy = { defaultAction: [allow, allow], lens: [[[], []], [[], []]], cidrs: [], ports: [], sets: 0 };
  const dirs: Array<[Direction, number]> = [['ingress', abi.DIR_INGRESS], ['egress', abi.DIR_EGRESS]];
  for (const [name, dir] of dirs) {
    const sets = new Map<string, number>();
    // Sets are shared only when they hold the same entries from the same
    // rules, so the rule an entry names (`nkit policy test`) is exact.
    const intern = (items: Map<string, Item>): number => {
      const key = [...items.entries()].map(([k, it]) => `${k}#${it.rule}`).sort().join(' ');
      let id = sets.get(key);
      if (id === undefined) {
        id = sets.size + 1;
        sets.set(key, id);
        for (const it of items.values()) out.ports.push({ dir, proto: it.proto, setId: id, port: it.port, portLen: it.portLen, rule: it.rule });
      }
      return id;
    };
    for (const family of [4, 6] as const) {
      compileFamily(p[name], family, dir, intern, out);
      const lens = [...new Set(out.cidrs.filter((c) => c.dir === dir && c.family === family).map((c) => c.len))].sort((a, b) => b - a);
      out.lens[dir]![family === 4 ? 0 : 1] = lens.length > abi.MAX_LENS ? 'trie' : lens;
    }
    out.sets += sets.size;
  }
  return out;
}
