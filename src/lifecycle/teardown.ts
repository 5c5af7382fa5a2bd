// Undoing a container's network from its record, never from the runtime's
// state: delete the host-side device (the peer and all routes through it go
// with it), remove the pins, release the leases, remove the record. Every
// step accepts "already gone", so teardown can run any number of times and
// after a setup that died half-way.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removePins } from '../bpf/program';
import { Config } from '../config/config';
import { NkitError, asNkitError } from '../errors';
import { release } from '../ipam/ipam';
import { removeAppliedPolicy } from '../policy/applied';
import { MAP_PINS } from '../policy/maps';
import { Logger } from '../log';
import { deleteLink, getLink } from '../netlink/ops';
import { withNetlink } from '../netlink/socket';
import { anyRecord, ContainerRecord, readRecord, removeRecord, writeRecord } from './record';
import { restoreHostSysctlsIfIdle } from './sysctl';
import { startReleaseSlot } from '../bpf/shared';
import type { SlotWrite } from '../bpf/program';
import { withLock } from './lock';
import { validateContainerId } from '../plan/naming';

export const OWNER_ALIAS_PREFIX = 'nkit:';
const LOCK_TIMEOUT_MS = 30_000;

export interface TeardownResult {
  id: string;
  found: boolean;
  removed: string[];
}

// The id is validated here too: `nkit policy apply ID` and `nkit-nspawn down
// NAME` take the lock before anything else looks at the id.
export const containerLockPath = (runDir: string, id: string): string => path.join(runDir, 'locks', `${validateContainerId(id)}.lock`);

// Tears down container id; a missing record means nothing to do (success).
export function teardownContainer(id: string, cfg: Config, log: Logger): TeardownResult {
  const lock = containerLockPath(cfg.runDir, id);
  return withLock(lock, LOCK_TIMEOUT_MS, `tear down container ${id}`, () => {
    const rec = readRecord(cfg.runDir, id);
    const removed = rec ? teardownRecord(rec, cfg, log) : releaseHostStateIfIdle(cfg, log);
    if (!rec) log.info({ id }, 'teardown: no record, nothing to do');
    // Safe while we hold it: withLock re-checks the file after locking.
    fs.rmSync(lock, { force: true });
    return { id, found: rec !== undefined, removed };
  });
}

// Removes everything a record names. Failures of single steps are logged and
// collected; if any remain the record is kept (so a retry or gc can finish)
// and one error naming them is thrown.
export function teardownRecord(rec: ContainerRecord, cfg: Config, log: Logger): string[] {
  const removed: string[] = [];
  const failed: string[] = [];
  const step = (name: string, fn: () => string[] | void): void => {
    try {
      const r = fn();
      if (r) removed.push(...r);
    } catch (err) {
      const e = asNkitError(err, 'EKERNEL', name);
      log.error({ id: rec.id, step: name, err: e }, `teardown step failed: ${e.message}`);
      failed.push(e.message);
    }
  };
  // The slot first, while the device still claims it: from then on the
  // device passes nothing. Its grace periods pass while the rest goes.
  const { slot, shared } = rec.bpf;
  let emptying: SlotWrite | undefined;
  if (slot !== undefined && shared) {
    step(`empty slot ${slot}`, () => {
      emptying = startReleaseSlot(cfg.runDir, shared, slot, path.join(rec.bpf.pinDir, MAP_PINS.cfg));
      return emptying ? [`slot ${slot}`] : [];
    });
  }
  step(`delete device ${rec.primary.name}`, () => (deleteOwnedPrimary(rec, log) ? [`link ${rec.primary.name}`] : []));
  step(`remove pins in ${rec.bpf.pinDir}`, () => removePins(rec.bpf.pinDir).map((p) => `pin ${p}`));
  step(`release addresses of ${rec.id}`, () =>
    release({ runDir: cfg.runDir, network: rec.network }, rec.id, rec.addresses.map((a) => a.address)).map((a) => `lease ${a}`),
  );
  step(`remove the applied policy copy of ${rec.id}`, () => (removeAppliedPolicy(cfg.runDir, rec.id) ? ['policy copy'] : []));
  if (emptying) step(`empty slot ${slot} (grace period)`, () => emptying!.wait());
  if (failed.length) {
    writeRecord(cfg.runDir, rec);
    throw new NkitError('EKERNEL', `tear down container ${rec.id}: ${failed.join('; ')}`, {
      hint: 'the record was kept; retry the poststop hook or run `nkit gc`',
    });
  }
  removeRecord(cfg.runDir, rec.id);
  removed.push(...releaseHostStateIfIdle(cfg, log));
  log.info({ id: rec.id, removed }, 'teardown done');
  return removed;
}

// When no container is left: the forwarding sysctls go back. Checked under
// their lock, so a setup starting meanwhile (it writes its record first)
// keeps them. The shared programs stay pinned: verifying them again would
// cost the next first container ~80 ms (gc unpins other builds' copies,
// removing the package unpins this one).
export function releaseHostStateIfIdle(cfg: Config, log: Logger): string[] {
  const idle = (): boolean => !anyRecord(cfg.runDir);
  return restoreHostSysctlsIfIdle(cfg.runDir, idle, log);
}

// Deletes the host-side device only if it is the one this record made:
// same ifindex and name, or (when setup died before recording the ifindex)
// our ownership alias.
function deleteOwnedPrimary(rec: ContainerRecord, log: Logger): boolean {
  return withNetlink(-1, (s) => {
    const byName = getLink(s, { name: rec.primary.name });
    if (!byName) return false;
    const ours =
      rec.primary.ifindex !== undefined
        ? byName.index === rec.primary.ifindex
        : byName.alias === `${OWNER_ALIAS_PREFIX}${rec.id}` || (byName.alias === undefined && rec.state === 'creating');
    if (!ours) {
      log.warn({ id: rec.id, device: rec.primary.name, ifindex: byName.index, alias: byName.alias }, 'device with our name is not ours: left alone');
      return false;
    }
    return deleteLink(s, { index: byName.index });
  });
}
