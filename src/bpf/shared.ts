// The host's one copy of the policy programs. The first setup loads and
// verifies bpf/policy.bpf.o and pins its programs, its arrays of maps and
// its capture ring under <bpffsDir>/_prog_<hash of the object>/; every
// later setup opens the pins, so a container costs no verifier run and all
// containers run the same code. A new nkit with a different object gets a
// directory of its own: running containers keep the programs they started
// with. bpffs refuses dots in names; container ids never start with _.
//
// Slots: a container's maps sit at index `slot` of each array of maps; its
// host device has ifindex IFINDEX_BASE + slot (see bpf/policy.bpf.c). Slot
// changes happen under one host-wide lock, and a slot is emptied only by
// the container whose config map is in it.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as abi from './abi';
import { asNkitError, NkitError } from '../errors';
import { withLock } from '../lifecycle/lock';
import { addon } from '../native';
import { closePolicyObject, loadPolicyObject, mapId, policyObjectPath, removePins, SlotWrite, slotOwner, startClearSlot } from './program';
import { ensureDir } from '../dirs';

export const SHARED_PREFIX = '_prog_';
const PROG_PINS = { egress: 'prog_egress', ingress: 'prog_ingress' } as const;
const EVENTS_PIN = 'events';
const slotPin = (k: abi.MapKind): string => `slot_${k}`;
export const sharedEventsPath = (dir: string): string => path.join(dir, EVENTS_PIN);
const LOCK_TIMEOUT_MS = 10_000;

export interface SharedProgram {
  dir: string;
  progs: { egress: number; ingress: number };
  slots: Record<abi.MapKind, number>;
  events: number;
}

const lockPath = (runDir: string, name: string): string => path.join(runDir, 'locks', name);

// The directory for this object: its content decides, so an upgrade that
// changes the programs never reuses older pins.
export function sharedDirFor(bpffsDir: string, file = policyObjectPath()): string {
  let hash: string;
  try {
    hash = createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 12);
  } catch (err) {
    throw asNkitError(err, 'ECONFIG', `read BPF object ${file}`);
  }
  return path.join(bpffsDir, `${SHARED_PREFIX}${hash}`);
}

function pinNames(): string[] {
  return [...Object.values(PROG_PINS), ...abi.MAP_KINDS.map(slotPin), EVENTS_PIN];
}

// Opens the pins of a shared directory (undefined when it is missing or
// incomplete).
export function openSharedPins(dir: string): SharedProgram | undefined {
  if (!pinNames().every((n) => fs.existsSync(path.join(dir, n)))) return undefined;
  const a = addon();
  const fds: number[] = [];
  const get = (name: string): number => {
    const fd = a.bpfObjGet(path.join(dir, name));
    fds.push(fd);
    return fd;
  };
  try {
    return {
      dir,
      progs: { egress: get(PROG_PINS.egress), ingress: get(PROG_PINS.ingress) },
      slots: Object.fromEntries(abi.MAP_KINDS.map((k) => [k, get(slotPin(k))])) as Record<abi.MapKind, number>,
      events: get(EVENTS_PIN),
    };
  } catch (err) {
    for (const fd of fds) a.closeFd(fd);
    throw asNkitError(err, 'ESTATE', `open the shared BPF pins in ${dir}`);
  }
}

export function closeShared(s: SharedProgram): void {
  const a = addon();
  for (const fd of [s.progs.egress, s.progs.ingress, ...Object.values(s.slots), s.events]) a.closeFd(fd);
}

// The shared programs for this nkit: opened from their pins, or loaded and
// pinned by the first caller (under a host-wide lock, so two first setups
// do not both load). `loaded` says whether this call ran the verifier.
export function openShared(bpffsDir: string, runDir: string): SharedProgram & { loaded: boolean } {
  const dir = sharedDirFor(bpffsDir);
  return withLock(lockPath(runDir, '.shared-prog.lock'), LOCK_TIMEOUT_MS, 'open the shared BPF programs', () => {
    const open = openSharedPins(dir);
    if (open) return { ...open, loaded: false };
    // A directory without every pin is what a first setup left when it
    // died half-way: start over.
    removePins(dir);
    const obj = loadPolicyObject();
    try {
      ensureDir(dir, 'BPF pin');
      const pin = (fd: number, name: string): void => {
        try {
          addon().bpfObjPin(fd, path.join(dir, name));
        } catch (err) {
          throw asNkitError(err, 'EKERNEL', `pin ${path.join(dir, name)}`);
        }
      };
      // Everything but one program first, that one last: a directory with
      // every pin is complete.
      pin(obj.progs.ingress, PROG_PINS.ingress);
      for (const k of abi.MAP_KINDS) pin(obj.slots[k], slotPin(k));
      pin(obj.events, EVENTS_PIN);
      pin(obj.progs.egress, PROG_PINS.egress);
    } catch (err) {
      try {
        removePins(dir);
      } catch {
        // reported through err
      }
      throw err;
    } finally {
      closePolicyObject(obj);
    }
    const pinned = openSharedPins(dir);
    if (!pinned) throw new NkitError('EKERNEL', `the shared BPF pins in ${dir} vanished right after pinning`);
    return { ...pinned, loaded: true };
  });
}

// Runs fn under the lock that orders every change of the slots.
export function withSlots<T>(runDir: string, what: string, fn: () => T): T {
  return withLock(lockPath(runDir, '.slots.lock'), LOCK_TIMEOUT_MS, what, fn);
}

// The shared directories under bpffsDir.
export function listSharedDirs(bpffsDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(bpffsDir);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(SHARED_PREFIX)).map((n) => path.join(bpffsDir, n));
}

// Starts emptying a container's slot if its own config map (pinned at
// cfgPin) is the one in it: a slot whose device vanished with its
// namespace may already belong to a newer container. Returns the pending
// write (wait() for its grace periods), or undefined when the slot is not
// this container's.
export function startReleaseSlot(runDir: string, dir: string, slot: number, cfgPin: string): SlotWrite | undefined {
  if (!fs.existsSync(cfgPin)) return undefined;
  const shared = openSharedPins(dir);
  if (!shared) return undefined;
  const a = addon();
  let own: number | undefined;
  try {
    own = a.bpfObjGet(cfgPin);
    const id = mapId(own);
    return withSlots(runDir, `empty slot ${slot}`, () => (slotOwner(shared.slots, slot) === id ? startClearSlot(shared.slots, slot) : undefined));
  } finally {
    if (own !== undefined) a.closeFd(own);
    closeShared(shared);
  }
}
