// Writing a compiled policy into a container's maps without a gap: the new
// rules go in under the inactive generation, the config gets that
// generation's defaults, one byte flips the generation, then the old
// entries go. A packet sees the old rules or the new ones, never none.
import * as path from 'node:path';
import * as abi from '../bpf/abi';
import { NkitError, asNkitError } from '../errors';
import { addon } from '../native';
import { CompiledPolicy } from './compile';
import { SeedFlow } from './flows';

export interface PolicyMapFds {
  cfg: number;
  gen: number;
  cidr4: number;
  cidr6: number;
  cidrh: number;
  ports: number;
  counters: number;
  ct: number;
}

// Pin names under <bpffsDir>/<id>/ for each map.
export const MAP_PINS: Record<keyof PolicyMapFds, string> = {
  cfg: 'map_cfg',
  gen: 'map_gen',
  cidr4: 'map_cidr4',
  cidr6: 'map_cidr6',
  cidrh: 'map_cidrh',
  ports: 'map_ports',
  counters: 'map_counters',
  ct: 'map_ct',
};

// Opens a container's pinned maps (close them with closeMaps).
export function openPinnedMaps(pinDir: string, id: string): PolicyMapFds {
  const out: Partial<PolicyMapFds> = {};
  try {
    for (const [k, pin] of Object.entries(MAP_PINS) as Array<[keyof PolicyMapFds, string]>) out[k] = addon().bpfObjGet(path.join(pinDir, pin));
  } catch (err) {
    closeMaps(out);
    throw new NkitError('ESTATE', `container ${id}: cannot open its pinned maps in ${pinDir}: ${(err as Error).message}`, {
      cause: err,
      hint: 'is the container running and set up by this nkit (see `nkit status`)?',
    });
  }
  return out as PolicyMapFds;
}

export function closeMaps(m: Partial<PolicyMapFds>): void {
  for (const fd of Object.values(m)) if (typeof fd === 'number') addon().closeFd(fd);
}

// nkit_gen counts installs; its low bit is the generation the rules' keys
// and the config's defaults are under. The connection table remembers the
// count, so a flow allowed under an older policy meets the rules again.
export function readGenCount(m: PolicyMapFds): number {
  const v = addon().bpfMapLookup(m.gen, Buffer.alloc(4), 4);
  return v ? v.readUInt32LE(0) : 0;
}

export function readGen(m: PolicyMapFds): number {
  return readGenCount(m) & 1;
}

// allow-all (both directions allowed) is the one policy under which the
// program keeps no connection table (bpf/policy.bpf.c).
const untracked = (d: readonly [abi.DefaultAction, abi.DefaultAction]): boolean => d[0] === abi.DEFAULT_ALLOW && d[1] === abi.DEFAULT_ALLOW;
export const policyTracksFlows = (c: CompiledPolicy): boolean => !untracked(c.defaultAction);

// Whether the policy in force keeps the connection table.
export function tracksFlows(m: PolicyMapFds): boolean {
  const raw = addon().bpfMapLookup(m.cfg, Buffer.alloc(4), abi.CFG_SIZE);
  return !raw || !untracked(abi.decodeCfg(raw).defaultAction[readGen(m)]!);
}

// Writes connection-table entries for flows under the install count gen,
// stamped now (CLOCK_MONOTONIC, the program's clock). An entry already
// there keeps who opened it; with keepExisting it is left alone (the
// program wrote it meanwhile). Returns how many entries were written.
export function seedFlows(m: PolicyMapFds, flows: SeedFlow[], gen: number, keepExisting: boolean): number {
  const a = addon();
  let n = 0;
  for (const f of flows) {
    const key = abi.encodeCtKey(f);
    const old = a.bpfMapLookup(m.ct, key, abi.CT_VAL_SIZE);
    if (old && keepExisting) continue;
    const dir = old ? abi.decodeCtVal(old).dir : f.dir;
    a.bpfMapUpdate(m.ct, key, abi.encodeCtVal({ lastSeenNs: process.hrtime.bigint(), gen, rule: 0, dir }), 0);
    n++;
  }
  return n;
}

export interface DeviceCfg {
  l3Offset: number;
  /** ARP and neighbour discovery pass (L2 devices with a policy other than deny-all). */
  neigh: boolean;
  addr4?: Buffer;
  addr6?: Buffer;
  /** Tag of this container's captured packets (its primary's ifindex). */
  captureTag?: number;
}

export interface InstallResult {
  gen: number;
  entries: number;
  removed: number;
}

// Installs a compiled policy as the new active generation.
export function installPolicy(m: PolicyMapFds, c: CompiledPolicy, dev: DeviceCfg): InstallResult {
  const a = addon();
  const count = (readGenCount(m) + 1) >>> 0;
  const cur = (count & 1) ^ 1;
  const next = count & 1;
  try {
    // Leftovers of an install that died before its flip.
    removeGeneration(m, next);
    for (const e of c.cidrs) {
      if (c.lens[e.dir]![e.family === 4 ? 0 : 1] === 'trie') {
        a.bpfMapUpdate(e.family === 4 ? m.cidr4 : m.cidr6, abi.encodeCidrKey(next, e.dir, e.addr, e.len), abi.encodeU32(e.setId), 0);
      } else {
        a.bpfMapUpdate(m.cidrh, abi.encodeCidrhKey(next, e.dir, e.addr, e.len), abi.encodeU32(e.setId), 0);
      }
    }
    for (const e of c.ports) {
      a.bpfMapUpdate(m.ports, abi.encodePortKey(next, e.dir, e.proto, e.setId, e.port, e.portLen), abi.encodeU32(e.rule), 0);
    }
    const old = a.bpfMapLookup(m.cfg, Buffer.alloc(4), abi.CFG_SIZE);
    const cfg = old ? abi.decodeCfg(old) : abi.decodeCfg(Buffer.alloc(abi.CFG_SIZE));
    cfg.defaultAction[next] = [c.defaultAction[abi.DIR_INGRESS], c.defaultAction[abi.DIR_EGRESS]];
    const lens: [abi.Lens | undefined, abi.Lens | undefined] = cfg.lens ?? [undefined, undefined];
    lens[next] = c.lens;
    cfg.lens = lens;
    cfg.l3Offset = dev.l3Offset;
    // Keep capture bits: a capture may be running while a policy is applied.
    cfg.flags = (cfg.flags & ~abi.CFG_F_NEIGH) | (dev.neigh ? abi.CFG_F_NEIGH : 0);
    if (dev.captureTag !== undefined) cfg.captureTag = dev.captureTag;
    if (dev.addr4) cfg.addr4 = dev.addr4;
    if (dev.addr6) cfg.addr6 = dev.addr6;
    a.bpfMapUpdate(m.cfg, Buffer.alloc(4), abi.encodeCfg(cfg), 0);
    a.bpfMapUpdate(m.gen, Buffer.alloc(4), abi.encodeU32(count), 0);
  } catch (err) {
    throw asNkitError(err, 'EKERNEL', `write policy maps (${c.cidrs.length} prefixes, ${c.ports.length} port entries)`);
  }
  const removed = removeGeneration(m, cur);
  return { gen: next, entries: c.cidrs.length + c.ports.length, removed };
}

// Deletes every cidr and port entry of one generation; returns how many.
function removeGeneration(m: PolicyMapFds, gen: number): number {
  const a = addon();
  let n = 0;
  for (const [fd, size, genAt] of [[m.cidr4, abi.CIDR4_KEY_SIZE, 4], [m.cidr6, abi.CIDR6_KEY_SIZE, 4], [m.cidrh, abi.CIDRH_KEY_SIZE, 0], [m.ports, abi.PORT_KEY_SIZE, 4]] as const) {
    const doomed: Buffer[] = [];
    for (let k = a.bpfMapNextKey(fd, null, size); k; k = a.bpfMapNextKey(fd, k, size)) if (k[genAt] === gen) doomed.push(k);
    for (const k of doomed) if (a.bpfMapDelete(fd, k)) n++;
  }
  return n;
}
