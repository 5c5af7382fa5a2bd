// Records of what setup created, one JSON file per container under
// <runDir>/containers/, written atomically (temp file, fsync, rename).
// Setup writes one before its first kernel change and updates it as it goes,
// so teardown and gc can follow a setup that died at any point.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NkitError } from '../errors';
import { Lease } from '../ipam/ipam';
import { validateContainerId } from '../plan/naming';
import type { NumaPlan } from '../numa/plan';
import { ensureDir } from '../dirs';

export const RECORD_VERSION = 1;

export interface NetnsIdentity {
  /** How it was found: /proc/<pid>/ns/net or the bundle's path. */
  path: string;
  dev: number;
  ino: number;
}

export interface ContainerRecord {
  version: number;
  id: string;
  /** creating: setup in progress or died; ready: setup finished. */
  state: 'creating' | 'ready';
  createdAt: string;
  updatedAt: string;
  network: string;
  mode: 'l3' | 'l2';
  mtu: number;
  policy: { name: string; source: string; file?: string };
  datapath?: 'netkit' | 'veth';
  /** Why this datapath: the config, or the probe that made auto fall back. */
  datapathReason?: string;
  /** Netkit features that were asked for and whether the kernel has them. */
  features?: Record<string, boolean>;
  primary: { name: string; ifindex?: number };
  /** NUMA placement: what was planned and whether the masks were written. */
  numa?: NumaRecord;
  peer: { name: string };
  netns: NetnsIdentity;
  pid?: number;
  addresses: Lease[];
  /** pinDir: the container's pins; shared: the pinned programs it runs
   * (src/bpf/shared.ts); slot: where its maps sit in their arrays (its
   * host device has ifindex IFINDEX_BASE + slot). */
  bpf: { pinDir: string; pins: string[]; shared?: string; slot?: number };
  /** Host sysctls this container's setup changed (old value kept). */
  sysctls: Array<{ path: string; previous: string; value: string }>;
}

// What the NUMA planner chose, and whether the masks were written on both
// devices (false: see errors).
export type NumaRecord = Pick<NumaPlan, 'node' | 'cpus' | 'queues' | 'xps' | 'rps' | 'reason' | 'warnings'> & {
  applied: boolean;
  errors?: string[];
};

export const containersDir = (runDir: string): string => path.join(runDir, 'containers');
export const recordPath = (runDir: string, id: string): string => path.join(containersDir(runDir), `${validateContainerId(id)}.json`);

// Writes the record atomically.
export function writeRecord(runDir: string, rec: ContainerRecord): void {
  const file = recordPath(runDir, rec.id);
  ensureDir(path.dirname(file), 'record');
  rec.updatedAt = new Date().toISOString();
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, `${JSON.stringify(rec, null, 2)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

// The record of id, or undefined. A record that cannot be parsed is an
// error: guessing would risk deleting what belongs to someone else.
export function readRecord(runDir: string, id: string): ContainerRecord | undefined {
  const file = recordPath(runDir, id);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new NkitError('ESTATE', `read record ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const rec = JSON.parse(text) as ContainerRecord;
    if (rec.version !== RECORD_VERSION || rec.id !== id) throw new Error(`version ${rec.version}, id ${rec.id}`);
    return rec;
  } catch (err) {
    throw new NkitError('ESTATE', `record ${file} is corrupt: ${(err as Error).message}`, {
      cause: err,
      hint: 'inspect it; `nkit gc` can remove what it names once the container is gone',
    });
  }
}

export function removeRecord(runDir: string, id: string): void {
  fs.rmSync(recordPath(runDir, id), { force: true });
}

// All records (corrupt ones reported as errors in the list, not thrown).
export function listRecords(runDir: string): Array<ContainerRecord | NkitError> {
  let names: string[];
  try {
    names = fs.readdirSync(containersDir(runDir));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .map((n) => {
      try {
        return readRecord(runDir, n.slice(0, -5)) ?? new NkitError('ESTATE', `record ${n} vanished`);
      } catch (err) {
        return err instanceof NkitError ? err : new NkitError('ESTATE', String(err));
      }
    });
}

// True when at least one record exists (reads directory entries until the
// first one: the idle check must not cost more with more containers).
export function anyRecord(runDir: string): boolean {
  let dir: fs.Dir;
  try {
    dir = fs.opendirSync(containersDir(runDir));
  } catch {
    return false;
  }
  try {
    for (let e = dir.readSync(); e; e = dir.readSync()) if (e.name.endsWith('.json')) return true;
    return false;
  } finally {
    dir.closeSync();
  }
}
