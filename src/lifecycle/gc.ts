// `nkit gc`: reconciles what exists in the kernel and under runDir/bpffsDir
// with the containers that still exist. A container is gone when the
// network namespace its record names is gone (or, for nspawn machines, no
// process is left in it). Gone containers are torn down from their records;
// nkit's objects that no record names (devices carrying the nkit:<id> alias,
// pin directories, leases, policy copies, locks, machine namespaces) are
// removed. Every id is handled under its lock, so a setup or teardown in
// progress is never disturbed, and nothing of a live container is touched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as abi from '../bpf/abi';
import { clearSlot, removePins, slotOwner } from '../bpf/program';
import { closeShared, listSharedDirs, openSharedPins, sharedDirFor, withSlots } from '../bpf/shared';
import { Config } from '../config/config';
import { NkitError } from '../errors';
import { listLeases, release } from '../ipam/ipam';
import { Logger } from '../log';
import { addon, MNT_DETACH } from '../native';
import { deleteLink, getLink, listLinks } from '../netlink/ops';
import { withNetlink } from '../netlink/socket';
import { appliedPolicyPath } from '../policy/applied';
import { idOfPinDirName } from '../plan/naming';
import { withLock } from './lock';
import { netnsAlive } from './netns';
import { ContainerRecord, listRecords, readRecord } from './record';
import { containerLockPath, OWNER_ALIAS_PREFIX, releaseHostStateIfIdle, teardownRecord } from './teardown';

export interface GcReport {
  removed: string[];
  kept: string[];
  busy: string[];
  errors: string[];
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

// True when a process still lives in the namespace with this inode.
function anyProcessIn(dev: number, ino: number): boolean {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const st = fs.statSync(`/proc/${p}/ns/net`);
      if (st.ino === ino && st.dev === dev) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

// Is the container of this record still there?
export function containerAlive(rec: ContainerRecord, cfg: Config): boolean {
  if (!netnsAlive(rec.netns)) return false;
  // A machine namespace of nkit-nspawn stays mounted after nspawn died: it
  // is alive only while a process is in it.
  if (rec.netns.path.startsWith(path.join(cfg.runDir, 'netns') + path.sep)) return anyProcessIn(rec.netns.dev, rec.netns.ino);
  return true;
}

// Runs fn under the id's lock, or reports the id busy.
function locked(cfg: Config, id: string, r: GcReport, fn: () => void): void {
  try {
    withLock(containerLockPath(cfg.runDir, id), 300, `gc ${id}`, fn);
  } catch (err) {
    if (err instanceof NkitError && /timed out/.test(err.message)) r.busy.push(id);
    else r.errors.push(`${id}: ${(err as Error).message}`);
  }
}

const listDir = (dir: string): string[] => {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
};

export function gc(cfg: Config, log: Logger, o: { dryRun?: boolean } = {}): GcReport {
  const r: GcReport = { removed: [], kept: [], busy: [], errors: [] };
  const act = (what: string, fn: () => unknown): void => {
    if (!o.dryRun) fn();
    r.removed.push(what);
  };

  // 1. Records of containers that are gone.
  for (const rec of listRecords(cfg.runDir)) {
    if (rec instanceof Error) {
      r.errors.push(rec.message);
      continue;
    }
    locked(cfg, rec.id, r, () => {
      const now = readRecord(cfg.runDir, rec.id);
      if (!now) return;
      if (containerAlive(now, cfg)) {
        r.kept.push(now.id);
        return;
      }
      if (o.dryRun) r.removed.push(`container ${now.id} (${now.state}, namespace ${now.netns.path} gone)`);
      else r.removed.push(...teardownRecord(now, cfg, log).map((x) => `${now.id}: ${x}`), `${now.id}: record`);
      removeMachineNetns(cfg, now.id, r, act);
    });
  }
  const hasRecord = (id: string): boolean => fs.existsSync(path.join(cfg.runDir, 'containers', `${id}.json`));
  const orphan = (id: string, fn: () => void): void => {
    if (!ID_RE.test(id) || hasRecord(id)) return;
    locked(cfg, id, r, () => {
      if (!hasRecord(id)) fn();
    });
  };

  // 2. Devices that carry our alias but no record names.
  withNetlink(-1, (s) => {
    for (const l of listLinks(s)) {
      if (!l.alias?.startsWith(OWNER_ALIAS_PREFIX)) continue;
      const id = l.alias.slice(OWNER_ALIAS_PREFIX.length);
      orphan(id, () => act(`device ${l.name} (${id})`, () => deleteLink(s, { index: l.index })));
    }
  });
  // 3. Pin directories, 4. policy copies, 5. machine namespaces.
  for (const name of listDir(cfg.bpffsDir)) {
    const id = idOfPinDirName(name);
    if (id) orphan(id, () => act(`pins ${path.join(cfg.bpffsDir, name)}`, () => removePins(path.join(cfg.bpffsDir, name))));
  }
  for (const f of listDir(path.join(cfg.runDir, 'policies')).filter((n) => n.endsWith('.json'))) {
    const id = f.slice(0, -5);
    orphan(id, () => act(`policy copy ${id}`, () => fs.rmSync(appliedPolicyPath(cfg.runDir, id), { force: true })));
  }
  for (const id of listDir(path.join(cfg.runDir, 'netns'))) orphan(id, () => removeMachineNetns(cfg, id, r, act));
  // 6. Leases whose owner has no record.
  for (const network of listDir(path.join(cfg.runDir, 'ipam'))) {
    for (const [address, id] of listLeases({ runDir: cfg.runDir, network })) {
      orphan(id, () => act(`lease ${address} (${id})`, () => release({ runDir: cfg.runDir, network }, id, [address])));
    }
  }
  // 7. Locks of ids without a record (removed while held: safe, see withLock).
  for (const f of listDir(path.join(cfg.runDir, 'locks')).filter((n) => n.endsWith('.lock') && !n.startsWith('.'))) {
    const id = f.slice(0, -5);
    orphan(id, () => {
      if (!o.dryRun) fs.rmSync(containerLockPath(cfg.runDir, id), { force: true });
    });
  }
  // 8. Slots whose device is gone, and shared programs no container runs.
  sharedGc(cfg, r, act);
  // 9. Host sysctls, when no container is left.
  if (!o.dryRun) r.removed.push(...releaseHostStateIfIdle(cfg, log));
  log.info({ removed: r.removed, kept: r.kept, busy: r.busy, errors: r.errors, dryRun: !!o.dryRun }, 'gc');
  return r;
}

// A slot holds a container's maps until its teardown empties it; a device
// that vanished with its namespace, its record lost, leaves maps behind.
// Those slots (no device at their ifindex) are emptied; shared directories
// of another nkit build that no record names are unpinned.
function sharedGc(cfg: Config, r: GcReport, act: (what: string, fn: () => unknown) => void): void {
  const current = sharedDirFor(cfg.bpffsDir);
  const named = new Set(listRecords(cfg.runDir).flatMap((rec) => (rec instanceof Error || !rec.bpf.shared ? [] : [rec.bpf.shared])));
  const devices = (): Set<number> => withNetlink(-1, (s) => new Set(listLinks(s).map((l) => l.index)));
  for (const dir of listSharedDirs(cfg.bpffsDir)) {
    if (dir !== current && !named.has(dir)) {
      act(`pins ${path.basename(dir)} (programs of another nkit build, unused)`, () => removePins(dir));
      continue;
    }
    const shared = openSharedPins(dir);
    if (!shared) continue;
    try {
      const full = (slot: number): boolean => slotOwner(shared.slots, slot) !== undefined;
      const filled = Array.from({ length: abi.MAX_SLOTS }, (_, i) => i).filter(full);
      if (!filled.length) continue;
      const present = devices();
      for (const slot of filled.filter((i) => !present.has(abi.slotIfindex(i)))) {
        act(`slot ${slot} in ${path.basename(dir)} (no device at ifindex ${abi.slotIfindex(slot)})`, () =>
          // Under the slots lock, again: a setup may have claimed it meanwhile.
          withSlots(cfg.runDir, `gc slot ${slot}`, () => {
            const now = withNetlink(-1, (s) => getLink(s, { index: abi.slotIfindex(slot) }));
            if (!now) clearSlot(shared.slots, slot);
          }),
        );
      }
    } catch (err) {
      r.errors.push(`slots in ${dir}: ${(err as Error).message}`);
    } finally {
      closeShared(shared);
    }
  }
}

function removeMachineNetns(cfg: Config, id: string, r: GcReport, act: (what: string, fn: () => unknown) => void): void {
  const p = path.join(cfg.runDir, 'netns', id);
  if (!fs.existsSync(p)) return;
  act(`machine namespace ${p}`, () => {
    try {
      addon().umount(p, MNT_DETACH);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EINVAL') r.errors.push(`unmount ${p}: ${(err as Error).message}`);
    }
    fs.rmSync(p, { force: true });
  });
}
