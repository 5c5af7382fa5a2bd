// Loading the policy object, writing its config, pinning its maps and
// attaching its programs with BPF links (pinned so they outlive the hook).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NkitError, asNkitError } from '../errors';
import { addon, LoadedObject, packageRoot } from '../native';
import { sleepMs } from '../lifecycle/lock';
import { closeMaps, PolicyMapFds } from '../policy/maps';
import { ENOENT, errnoText } from '../netlink/socket';
import * as abi from './abi';
import { ensureDir } from '../dirs';

export interface PolicyObject {
  object: LoadedObject;
  progs: { egress: number; ingress: number };
  /** The arrays of maps that hold each container's maps at its slot. */
  slots: Record<abi.MapKind, number>;
  /** The capture ring of every container that runs these programs. */
  events: number;
}

export interface LoadOptions {
  file?: string;
}

// The compiled policy object shipped with nkit (NKIT_BPF_OBJECT overrides).
export function policyObjectPath(): string {
  return process.env.NKIT_BPF_OBJECT ?? path.join(packageRoot(), 'bpf', 'policy.bpf.o');
}

// Loads (and verifies) the policy programs once: the host pins them and
// every container's devices run them (src/bpf/shared.ts). Its slots are
// empty: a device whose slot holds no maps passes nothing.
export function loadPolicyObject(o: LoadOptions = {}): PolicyObject {
  const file = o.file ?? policyObjectPath();
  let object: LoadedObject;
  try {
    object = addon().bpfObjectLoad(file, {});
  } catch (err) {
    throw asNkitError(err, 'EKERNEL', `load BPF object ${file}`);
  }
  const prog = (name: string): number => {
    const p = object.programs.find((x) => x.name === name);
    if (!p) throw new NkitError('EINTERNAL', `BPF object ${file} has no program ${name}`);
    return p.fd;
  };
  const map = (name: string): number => {
    const m = object.maps.find((x) => x.name === name);
    if (!m) throw new NkitError('EINTERNAL', `BPF object ${file} has no map ${name}`);
    return m.fd;
  };
  try {
    return {
      object,
      progs: { egress: prog(abi.PROG_EGRESS), ingress: prog(abi.PROG_INGRESS) },
      slots: Object.fromEntries(abi.MAP_KINDS.map((k) => [k, map(abi.MAP_SPECS[k].slotMap)])) as Record<abi.MapKind, number>,
      events: map(abi.MAP_EVENTS),
    };
  } catch (err) {
    addon().bpfObjectClose(object.handle);
    throw err;
  }
}

// Closes the object's fds (pinned programs, links and maps stay in the kernel).
export function closePolicyObject(p: PolicyObject): void {
  addon().bpfObjectClose(p.object.handle);
}

// Creates one container's maps, empty: default deny until a policy is
// installed. conntrackSize sizes its connection table.
export function createContainerMaps(conntrackSize?: number): PolicyMapFds {
  const out: Partial<PolicyMapFds> = {};
  try {
    for (const k of abi.MAP_KINDS) {
      const m = abi.MAP_SPECS[k];
      const max = k === 'ct' && conntrackSize ? conntrackSize : m.maxEntries;
      out[k] = addon().bpfMapCreate(m.type, m.name, m.keySize, m.valueSize, max, m.flags);
    }
  } catch (err) {
    closeMaps(out);
    throw asNkitError(err, 'EKERNEL', 'create the container\'s BPF maps');
  }
  return out as PolicyMapFds;
}

// Writes to a slot: every array at once, each on its own thread. The
// kernel waits for an RCU grace period after each write to an array of
// maps (~8 ms here); the change itself is visible as soon as the write's
// syscall starts. start() returns once every array shows the change (so a
// lock around it orders slot changes), and the caller overlaps the grace
// periods with other work before wait().
export interface SlotWrite {
  /** Waits for the grace periods; throws if a write failed. */
  wait(): void;
}

const POLL_LIMIT_MS = 5_000;

// want: per array, the id of the map it must show, or null for none.
function writeSlot(slots: Record<abi.MapKind, number>, slot: number, fds: Record<abi.MapKind, number | null>, want: Record<abi.MapKind, number | null>, what: string): SlotWrite {
  const a = addon();
  const key = abi.encodeU32(slot);
  const kinds = abi.MAP_KINDS;
  const handle = a.bpfMapWriteStart(kinds.map((k) => [slots[k], key, fds[k] === null ? null : abi.encodeU32(fds[k]!)]));
  // A delete of what is not there is done too.
  const failedAt = (errs: number[]): number => errs.findIndex((e, i) => e > 0 && !(e === ENOENT && fds[kinds[i]!] === null));
  const check = (errs: number[]): void => {
    const bad = failedAt(errs);
    if (bad >= 0) throw new NkitError('EKERNEL', `${what}: the ${kinds[bad]} array: ${errnoText(errs[bad]!)}`);
  };
  const shows = (k: abi.MapKind): boolean => {
    const v = a.bpfMapLookup(slots[k], key, 4);
    return want[k] === null ? v === null : v !== null && v.readUInt32LE(0) === want[k];
  };
  const deadline = Date.now() + POLL_LIMIT_MS;
  for (;;) {
    const st = a.bpfMapWritePoll(handle);
    if (failedAt(st) >= 0 || Date.now() > deadline) {
      check(a.bpfMapWriteWait(handle));
      break;
    }
    if (kinds.every((k, i) => st[i]! >= 0 || shows(k))) break;
    sleepMs(0.05);
  }
  return { wait: () => check(a.bpfMapWriteWait(handle)) };
}

// Starts putting a container's maps into its slot. The programs pass
// nothing through a slot without both its config and generation.
export function startFillSlot(slots: Record<abi.MapKind, number>, slot: number, maps: PolicyMapFds): SlotWrite {
  const ids = Object.fromEntries(abi.MAP_KINDS.map((k) => [k, mapId(maps[k])])) as Record<abi.MapKind, number>;
  return writeSlot(slots, slot, maps, ids, `put the container's maps into slot ${slot}`);
}

export function fillSlot(slots: Record<abi.MapKind, number>, slot: number, maps: PolicyMapFds): void {
  startFillSlot(slots, slot, maps).wait();
}

// Starts emptying a slot (arrays already empty count as done).
export function startClearSlot(slots: Record<abi.MapKind, number>, slot: number): SlotWrite {
  const none = Object.fromEntries(abi.MAP_KINDS.map((k) => [k, null])) as Record<abi.MapKind, null>;
  return writeSlot(slots, slot, none, none, `empty slot ${slot}`);
}

export function clearSlot(slots: Record<abi.MapKind, number>, slot: number): void {
  startClearSlot(slots, slot).wait();
}

// The id of the config map in a slot (its owner), or undefined when empty.
export function slotOwner(slots: Record<abi.MapKind, number>, slot: number): number | undefined {
  const v = addon().bpfMapLookup(slots.cfg, abi.encodeU32(slot), 4);
  return v ? v.readUInt32LE(0) : undefined;
}

// The kernel's id of a map (struct bpf_map_info: type, id, ...).
export function mapId(fd: number): number {
  return addon().bpfObjInfo(fd, 8).readUInt32LE(4);
}

// Creates a BPF link for prog on ifindex (of the caller's netns) and pins it at pinPath. The fd is
// closed afterwards: the pin alone keeps the program attached.
export function attachAndPin(progFd: number, ifindex: number, attachType: number, pinPath: string): void {
  const a = addon();
  let linkFd: number;
  try {
    linkFd = a.bpfLinkCreate(progFd, ifindex, attachType, 0, -1);
  } catch (err) {
    throw asNkitError(err, 'EKERNEL', `attach BPF program (attach type ${attachType}) to ifindex ${ifindex}`);
  }
  try {
    a.bpfObjPin(linkFd, pinPath);
  } catch (err) {
    throw asNkitError(err, 'EKERNEL', `pin BPF link at ${pinPath}`);
  } finally {
    a.closeFd(linkFd);
  }
}

// Pins a map fd (for `nkit status`/stats and later live policy updates).
export function pinMap(mapFd: number, pinPath: string): void {
  try {
    addon().bpfObjPin(mapFd, pinPath);
  } catch (err) {
    throw asNkitError(err, 'EKERNEL', `pin BPF map at ${pinPath}`);
  }
}

// Removes a container's pin directory; removing a link pin detaches the
// program when nothing else holds the link. Returns the files removed.
export function removePins(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  for (const n of names) fs.rmSync(path.join(dir, n), { force: true });
  fs.rmdirSync(dir);
  return names;
}

// Ensures dir lies on a bpf filesystem, mounting bpffs on /sys/fs/bpf when
// nothing is mounted there yet (as Cilium does), then creates dir. The
// caller logs `mounted`: a mount made inside a private mount namespace
// would take the pins with it.
export function ensureBpffs(dir: string): { mounted: boolean } {
  const a = addon();
  let existing = dir;
  while (!fs.existsSync(existing)) existing = path.dirname(existing);
  let mounted = false;
  if (a.statfsType(existing) !== abi.BPF_FS_MAGIC) {
    const std = '/sys/fs/bpf';
    if (existing === std && (dir === std || dir.startsWith(`${std}/`))) {
      try {
        a.mount('bpf', std, 'bpf', 0, 'mode=0700');
        mounted = true;
      } catch (err) {
        throw asNkitError(err, 'ENOTSUPP', `mount bpffs on ${std}`);
      }
    } else {
      throw new NkitError('ENOTSUPP', `bpffsDir ${dir} is not on a bpf filesystem`, {
        hint: `mount one (mount -t bpf bpf ${existing}) or set bpffsDir under /sys/fs/bpf`,
      });
    }
  }
  ensureDir(dir, 'BPF pin');
  return { mounted };
}

// The number of possible CPUs (per-CPU map values hold one slot each).
export function possibleCpus(file = '/sys/devices/system/cpu/possible'): number {
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split(',')
    .reduce((n, part) => {
      const [a, b] = part.split('-').map(Number);
      return n + (b === undefined ? 1 : b - a! + 1);
    }, 0);
}

// A container's maps, created and put into slot of a loaded object: what
// setup does through the pinned copy, for tests and benchmarks that run
// the programs on their own object. Close the maps with closeMaps.
export function addContainer(obj: PolicyObject, slot: number, conntrackSize?: number): PolicyMapFds {
  const maps = createContainerMaps(conntrackSize);
  try {
    fillSlot(obj.slots, slot, maps);
  } catch (err) {
    closeMaps(maps);
    throw err;
  }
  return maps;
}
