// Loading the policy object, writing its config, pinning its maps and
// attaching its programs with BPF links (pinned so they outlive the hook).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NkitError, asNkitError } from '../errors';
import { addon, LoadedObject, packageRoot } from '../native';
import { PolicyMapFds } from '../policy/maps';
import * as abi from './abi';
import { ensureDir } from '../dirs';

export interface PolicyObject {
  object: LoadedObject;
  progs: { egress: number; ingress: number };
  maps: PolicyMapFds;
  /** The capture ring (the shared one when captureRing was given). */
  events: number;
}

export interface LoadOptions {
  file?: string;
  /** Entries of the connection table (config conntrackSize). */
  conntrackSize?: number;
  /** fd of the host's shared capture ring to use instead of a new one. */
  captureRing?: number;
}

// The compiled policy object shipped with nkit (NKIT_BPF_OBJECT overrides).
export function policyObjectPath(): string {
  return process.env.NKIT_BPF_OBJECT ?? path.join(packageRoot(), 'bpf', 'policy.bpf.o');
}

// Loads a fresh copy of the policy object: its own maps, default deny.
export function loadPolicyObject(o: LoadOptions = {}): PolicyObject {
  const file = o.file ?? policyObjectPath();
  let object: LoadedObject;
  try {
    object = addon().bpfObjectLoad(file, {
      ...(o.conntrackSize ? { maxEntries: { [abi.MAP_CT]: o.conntrackSize } } : {}),
      ...(o.captureRing !== undefined ? { reuseMaps: { [abi.MAP_EVENTS]: o.captureRing } } : {}),
    });
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
  return {
    object,
    progs: { egress: prog(abi.PROG_EGRESS), ingress: prog(abi.PROG_INGRESS) },
    maps: {
      cfg: map(abi.MAP_CFG),
      gen: map(abi.MAP_GEN),
      cidr4: map(abi.MAP_CIDR4),
      cidr6: map(abi.MAP_CIDR6),
      ports: map(abi.MAP_PORTS),
      counters: map(abi.MAP_COUNTERS),
      ct: map(abi.MAP_CT),
    },
    events: map(abi.MAP_EVENTS),
  };
}

// Closes the object's fds (pinned links and maps stay in the kernel).
export function closePolicyObject(p: PolicyObject): void {
  addon().bpfObjectClose(p.object.handle);
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
