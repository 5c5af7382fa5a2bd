// Operating a running container's policy from the host: show what is in
// force, replace it atomically, ask the real program what it would decide,
// read the counters.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as abi from '../bpf/abi';
import { possibleCpus } from '../bpf/program';
import { Config } from '../config/config';
import { NkitError } from '../errors';
import { Logger } from '../log';
import { addon } from '../native';
import { planAddresses } from '../plan/plan';
import { AppliedPolicy, readAppliedPolicy, saveAppliedPolicy } from '../policy/applied';
import { compilePolicy } from '../policy/compile';
import { InetSocket, dumpInetSockets } from '../netlink/sockdiag';
import { flowsOfSockets, SeedFlow } from '../policy/flows';
import { closeMaps, DeviceCfg, installPolicy, InstallResult, openPinnedMaps, PolicyMapFds, policyTracksFlows, readGenCount, seedFlows, tracksFlows } from '../policy/maps';
import { PacketSpec } from '../policy/packet';
import { loadPolicy, loadPolicyFile } from '../policy/rules';
import { programOfLink, testPacket, TestResult } from '../policy/testrun';
import { withLock } from './lock';
import { openRecordedNetns } from './netns';
import { ContainerRecord, readRecord, writeRecord } from './record';
import { deviceCfg } from './setup';
import { containerLockPath } from './teardown';

// The record of a container that is set up, or a clear error.
export function readyRecord(cfg: Config, id: string): ContainerRecord {
  const rec = readRecord(cfg.runDir, id);
  if (!rec) throw new NkitError('EINPUT', `no container ${id} (no record in ${cfg.runDir}/containers)`, { hint: 'see `nkit status`' });
  if (rec.state !== 'ready') throw new NkitError('ESTATE', `container ${id} is not ready (state ${rec.state})`);
  return rec;
}

export interface ShownPolicy {
  id: string;
  policy: ContainerRecord['policy'];
  applied?: AppliedPolicy;
}

export function showPolicy(cfg: Config, id: string): ShownPolicy {
  const rec = readyRecord(cfg, id);
  const applied = readAppliedPolicy(cfg.runDir, id);
  return { id, policy: rec.policy, ...(applied ? { applied } : {}) };
}

const isPath = (s: string): boolean => s.includes('/') || s.endsWith('.json');

export interface ApplyResult extends InstallResult {
  id: string;
  policy: string;
  sets: number;
  /** Connections written into the table from the container's sockets (when leaving allow-all). */
  seeded?: number;
  /** What went wrong without stopping the apply. */
  warnings: string[];
}

// Writes the container's open connections into its table, under the
// install count gen: none an earlier pass wrote (pass.done: the program may
// have ended it since), and with keepExisting none the program wrote.
// undefined (and a warning) when they cannot be listed or written. The
// policy goes in either way: refusing it would keep allow-all in force.
function seedFromSockets(rec: ContainerRecord, maps: PolicyMapFds, dev: DeviceCfg, gen: number, pass: { done: Set<string>; keepExisting: boolean }, warnings: string[]): number | undefined {
  try {
    const fd = openRecordedNetns(rec.id, rec.netns);
    let socks: InetSocket[];
    try {
      socks = dumpInetSockets(fd);
    } finally {
      fs.closeSync(fd);
    }
    const own = { ...(dev.addr4 ? { addr4: dev.addr4 } : {}), ...(dev.addr6 ? { addr6: dev.addr6 } : {}) };
    const flows: SeedFlow[] = [];
    for (const f of flowsOfSockets(socks, own)) {
      const key = abi.encodeCtKey(f).toString('hex');
      if (pass.done.has(key)) continue;
      pass.done.add(key);
      flows.push(f);
    }
    return seedFlows(maps, flows, gen, pass.keepExisting);
  } catch (err) {
    warnings.push(
      `cannot carry its open connections over from allow-all (${(err as Error).message}): connections it opened lose the replies that arrive before it sends again`,
    );
    return undefined;
  }
}

// Replaces the rules of a running container: new generation, flip, old
// entries removed. Programs stay attached throughout.
export function applyPolicy(cfg: Config, id: string, what: string, log: Logger): ApplyResult {
  return withLock(containerLockPath(cfg.runDir, id), 30_000, `apply a policy to ${id}`, () => {
    const rec = readyRecord(cfg, id);
    const source = 'nkit policy apply';
    const policy = isPath(what) ? loadPolicyFile(path.resolve(what), path.basename(what, '.json'), source) : loadPolicy(what, cfg.policiesDir, source);
    const compiled = compilePolicy(policy);
    const maps = openPinnedMaps(rec.bpf.pinDir, id);
    let r: InstallResult;
    const warnings: string[] = [];
    let seeded: number | undefined;
    try {
      const l2 = rec.datapath === 'veth' || rec.mode === 'l2';
      const dev = deviceCfg(l2, policy.name, planAddresses(rec.addresses));
      // Leaving allow-all, which tracks nothing: the container's open
      // connections go into the table first (src/policy/flows.ts).
      const seed = !tracksFlows(maps) && policyTracksFlows(compiled);
      const before = readGenCount(maps);
      const done = new Set<string>();
      if (seed) seeded = seedFromSockets(rec, maps, dev, before, { done, keepExisting: false }, warnings);
      r = installPolicy(maps, compiled, dev);
      // Connections opened while the rules went in (the program may have
      // written their entries already).
      if (seed && seeded !== undefined) seeded += seedFromSockets(rec, maps, dev, before, { done, keepExisting: true }, warnings) ?? 0;
    } finally {
      closeMaps(maps);
    }
    saveAppliedPolicy(cfg.runDir, id, policy);
    rec.policy = { name: policy.name, source, ...(policy.file ? { file: policy.file } : {}) };
    writeRecord(cfg.runDir, rec);
    for (const w of warnings) log.warn({ id, policy: policy.name }, w);
    log.info({ id, policy: policy.name, file: policy.file, gen: r.gen, entries: r.entries, removed: r.removed, seeded }, 'policy applied');
    return { id, policy: policy.name, sets: compiled.sets, ...r, ...(seeded !== undefined ? { seeded } : {}), warnings };
  });
}

export interface TestQuery {
  dir: 'ingress' | 'egress';
  /** The remote address (destination on egress, source on ingress). */
  remote: string;
  proto: 'tcp' | 'udp' | 'icmp';
  port?: number;
  sport?: number;
}

// What the container's program decides for such a packet (a dry run).
export function testPolicy(cfg: Config, id: string, q: TestQuery): TestResult & { packet: PacketSpec } {
  const rec = readyRecord(cfg, id);
  const v6 = q.remote.includes(':');
  const own = rec.addresses.find((a) => a.family === (v6 ? 6 : 4));
  if (!own) throw new NkitError('EINPUT', `container ${id} has no IPv${v6 ? 6 : 4} address`);
  const spec: PacketSpec = {
    src: q.dir === 'egress' ? own.address : q.remote,
    dst: q.dir === 'egress' ? q.remote : own.address,
    proto: q.proto,
    ...(q.port !== undefined ? { dport: q.port } : {}),
    ...(q.sport !== undefined ? { sport: q.sport } : {}),
  };
  const slot = rec.bpf.slot;
  if (slot === undefined) throw new NkitError('ESTATE', `container ${id}: its record names no slot (set up by an older nkit: restart the container)`);
  const prog = programOfLink(path.join(rec.bpf.pinDir, q.dir === 'egress' ? 'link_egress' : 'link_ingress'));
  try {
    return { ...testPacket(prog, spec, slot), packet: spec };
  } finally {
    addon().closeFd(prog);
  }
}

export type Stats = Record<'ingress' | 'egress', Record<string, { packets: number; bytes: number }>>;

// The counters of a container, summed over CPUs.
export function readStats(cfg: Config, id: string): Stats {
  const rec = readyRecord(cfg, id);
  const a = addon();
  const fd = a.bpfObjGet(path.join(rec.bpf.pinDir, 'map_counters'));
  try {
    const ncpu = possibleCpus();
    const out = { ingress: {}, egress: {} } as Stats;
    for (const [dirName, dir] of [['ingress', abi.DIR_INGRESS], ['egress', abi.DIR_EGRESS]] as const) {
      for (const [slotName, slot] of Object.entries(abi.COUNTER_SLOTS)) {
        const key = Buffer.alloc(4);
        key.writeUInt32LE(abi.counterKey(dir, slot));
        const c = abi.sumPerCpuCounter(a.bpfMapLookup(fd, key, abi.COUNTER_SIZE * ncpu) ?? Buffer.alloc(0));
        out[dirName][slotName] = { packets: Number(c.packets), bytes: Number(c.bytes) };
      }
    }
    return out;
  } finally {
    a.closeFd(fd);
  }
}
