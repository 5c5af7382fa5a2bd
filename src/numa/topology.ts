// The host's CPU and NUMA topology as sysfs shows it, read from a root
// directory given by the caller (/sys, or a fake tree in tests). File reads
// only: the default route's device comes from a callback.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NkitError } from '../errors';
import { parseCpuList } from './cpulist';

// One NUMA node and the CPUs sysfs lists for it.
export interface NumaNode {
  id: number;
  /** devices/system/node/node<id>/cpulist; empty for a memory-only node. */
  cpus: number[];
}

// What readTopology found under a sysfs root.
export interface Topology {
  root: string;
  /** Sorted by id; empty when the kernel has no NUMA (no devices/system/node/node*). */
  nodes: NumaNode[];
  /** devices/system/cpu/online (else possible, else the nodes' CPUs): the CPUs that can run. */
  online: number[];
  /** nr_cpu_ids: highest possible CPU + 1, the width of the kernel's CPU masks; 0 when unknown. */
  nrCpuIds: number;
  /** Which files were missing, for the plan's reason; empty on a normal /sys. */
  missing: string[];
}

// The uplink NIC and its NUMA node.
export interface NicInfo {
  name: string;
  /** Where the name came from: config/--uplink, or the default route. */
  source: 'config' | 'route';
  /** <root>/class/net/<name> exists. */
  present: boolean;
  /** device/numa_node; null when missing (virtual device) or -1 (no NUMA information). */
  node: number | null;
}

// Reads a small sysfs file; undefined when it does not exist (or is not a
// file we may read): sysfs omits what the kernel does not have.
function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EINVAL' || code === 'ENODEV') return undefined;
    throw new NkitError('EINPUT', `read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function cpuListFile(file: string): number[] | undefined {
  const text = readOptional(file);
  return text === undefined ? undefined : parseCpuList(text, file);
}

// Reads nodes, online and possible CPUs under `root` (e.g. "/sys"). Missing
// files give empty answers, never errors; malformed ones throw EINPUT naming the file.
export function readTopology(root: string): Topology {
  const missing: string[] = [];
  const nodeDir = path.join(root, 'devices', 'system', 'node');
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(nodeDir);
  } catch {
    missing.push(nodeDir);
  }
  const nodes: NumaNode[] = entries
    .filter((e) => /^node(0|[1-9]\d{0,3})$/.test(e))
    .map((e) => ({ id: Number(e.slice(4)), cpus: cpuListFile(path.join(nodeDir, e, 'cpulist')) ?? [] }))
    .sort((a, b) => a.id - b.id);

  const cpuDir = path.join(root, 'devices', 'system', 'cpu');
  const onlineFile = path.join(cpuDir, 'online');
  const possibleFile = path.join(cpuDir, 'possible');
  const online = cpuListFile(onlineFile);
  const possible = cpuListFile(possibleFile);
  if (!online) missing.push(onlineFile);
  if (!possible) missing.push(possibleFile);
  const nodeCpus = [...new Set(nodes.flatMap((n) => n.cpus))].sort((a, b) => a - b);
  const usable = online ?? possible ?? nodeCpus;
  const widest = possible?.length ? possible : [...usable, ...nodeCpus];
  const nrCpuIds = widest.length ? Math.max(...widest) + 1 : 0;
  return { root, nodes, online: usable, nrCpuIds, missing };
}

// Checks an interface name before it names a path: what the kernel's
// dev_valid_name() accepts (1-15 bytes, no '/', ':' or whitespace, not "." or "..").
export function validateIfName(name: string, what = 'uplink'): string {
  if (!/^[^/:\s]{1,15}$/.test(name) || name === '.' || name === '..' || Buffer.byteLength(name) > 15) {
    throw new NkitError('EINPUT', `${what} "${name}" is not a valid interface name`);
  }
  return name;
}

// Reads a NIC's NUMA node: <root>/class/net/<name>/device/numa_node. A
// missing file (virtual devices have no device/) or -1 means no information.
export function readNic(root: string, name: string, source: NicInfo['source']): NicInfo {
  validateIfName(name);
  const dir = path.join(root, 'class', 'net', name);
  const present = fs.existsSync(dir);
  const file = path.join(dir, 'device', 'numa_node');
  const text = present ? readOptional(file) : undefined;
  if (text === undefined) return { name, source, present, node: null };
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) throw new NkitError('EINPUT', `${file}: "${t}" is not a NUMA node number`);
  const node = Number(t);
  return { name, source, present, node: node < 0 ? null : node };
}

// The uplink's name: the configured one, else the default route's device,
// else none (then the plan has no NIC to follow).
export function resolveUplink(configured: string | undefined, defaultRouteDevice: () => string | undefined): { name: string; source: NicInfo['source'] } | undefined {
  if (configured) return { name: configured, source: 'config' };
  const dev = defaultRouteDevice();
  return dev ? { name: dev, source: 'route' } : undefined;
}
