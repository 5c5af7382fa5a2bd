// The benchmark's workload (pure): N egress rules of the shape real policies
// have, from a seeded generator, and the three packets every filter is
// measured on. The same rules feed nkit (as policy JSON) and nftables.
import type { PacketSpec } from '../src/policy/packet';

export const CONTAINER_ADDR = '10.213.0.2';
export const SEED = 0x6e6b6974; // "nkit"

export interface BenchRule {
  /** a.b.c.d/32 or a.b.c.0/24 */
  cidr: string;
  proto: 'tcp' | 'udp';
  /** [lo, hi], lo === hi for a single port */
  ports: [number, number];
}

export interface Workload {
  n: number;
  rules: BenchRule[];
  /** Index of the rule the allowed packet matches (the middle of the list). */
  target: number;
  allowed: PacketSpec;
  denied: PacketSpec;
  /** The answer to `allowed`, travelling towards the container. */
  reply: PacketSpec;
  /** `allowed` from another source port: a flow that is not in the
   * connection table (run it only dry, so it stays out). */
  newFlow: PacketSpec;
}

// mulberry32: small, fast and the same on every machine.
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COMMON_PORTS = [22, 25, 53, 80, 123, 443, 993, 1433, 2379, 3306, 5432, 5672, 6379, 8080, 8443, 9092, 9200, 11211, 27017];
// Every N shares the same three packets: the allowed one goes to the target
// rule's /24 (TEST-NET-3), the denied one to the RFC 2544 benchmarking range.
const TARGET_NET = '203.0.113';
const ALLOWED_DST = `${TARGET_NET}.77`;
const DENIED_DST = '198.18.0.1';

// Reserved for the packets, or not unicast: no rule is generated there.
const isReserved = (a: number, b: number, c: number): boolean =>
  a === 0 || a === 10 || a === 127 || a >= 224 || (a === 198 && (b === 18 || b === 19)) || (a === 203 && b === 0 && c === 113);

// N rules over distinct /24 blocks (no rule's prefix contains another's, so
// the allowed packet matches exactly one rule): 60% single hosts, 40% /24s;
// 70% tcp; 70% a single (mostly well-known) port, 30% a range.
export function generateRules(n: number, seed = SEED): BenchRule[] {
  const rnd = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const blocks = new Set<number>();
  const rules: BenchRule[] = [];
  while (rules.length < n) {
    const a = int(1, 223), b = int(0, 255), c = int(0, 255);
    if (isReserved(a, b, c)) continue;
    const block = (a << 16) | (b << 8) | c;
    if (blocks.has(block)) continue;
    blocks.add(block);
    const host = rnd() < 0.6;
    const proto = rnd() < 0.7 ? 'tcp' : 'udp';
    let ports: [number, number];
    if (rnd() < 0.7) {
      const p = rnd() < 0.7 ? COMMON_PORTS[int(0, COMMON_PORTS.length - 1)]! : int(1024, 65535);
      ports = [p, p];
    } else {
      const lo = int(1024, 60000);
      ports = [lo, lo + int(10, 1000)];
    }
    rules.push({ cidr: host ? `${a}.${b}.${c}.${int(1, 254)}/32` : `${a}.${b}.${c}.0/24`, proto, ports });
  }
  return rules;
}

// The workload for N rules: the middle rule (the average position in a
// linear chain) becomes "tcp 8000-8100 to 203.0.113.0/24" and the allowed
// packet goes to port 8080 of a host in it. With no rules, the allowed
// packet is measured under allow-all.
export function workload(n: number, seed = SEED): Workload {
  const rules = generateRules(n, seed);
  const target = Math.floor(n / 2);
  if (n > 0) rules[target] = { cidr: `${TARGET_NET}.0/24`, proto: 'tcp', ports: [8000, 8100] };
  const allowed: PacketSpec = { src: CONTAINER_ADDR, dst: ALLOWED_DST, proto: 'tcp', sport: 40000, dport: 8080 };
  return {
    n,
    rules,
    target,
    allowed,
    denied: { ...allowed, dst: DENIED_DST },
    reply: { src: ALLOWED_DST, dst: CONTAINER_ADDR, proto: 'tcp', sport: 8080, dport: 40000, tcpFlags: 0x12 },
    newFlow: { ...allowed, sport: 40001 },
  };
}

// The rules as nkit policy JSON (egress only; ingress is default deny).
export function policyJson(rules: BenchRule[]): string {
  const portText = ([lo, hi]: [number, number]): string => (lo === hi ? `${lo}` : `${lo}-${hi}`);
  return JSON.stringify({ egress: rules.map((r) => ({ cidr: r.cidr, proto: r.proto, ports: portText(r.ports) })), ingress: [] });
}
