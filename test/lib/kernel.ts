// Independent readers of kernel state (iproute2 6.15, bpftool 7.5, the file system), never nkit's own code.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './exec';
import { netnsExecArgv } from './netns';

/** Where to read: a named netns (omitted: the test process's own netns). */
export interface ReadOptions {
  netns?: string;
}

/** One link as `ip -j -d link show` prints it; the fields tests look at most, the rest as is. */
export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  address?: string;
  link?: string;
  link_index?: number;
  link_netnsid?: number;
  num_tx_queues?: number;
  num_rx_queues?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; [k: string]: unknown };
  [k: string]: unknown;
}

/** One address entry from `ip -j addr`. */
export interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope?: string;
  [k: string]: unknown;
}

/** One link with its addresses, as `ip -j addr` prints it. */
export interface IpAddrLink extends IpLink {
  addr_info: IpAddrInfo[];
}

/** One route from `ip -j route` / `ip -j -6 route`. */
export interface IpRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  flags: string[];
  [k: string]: unknown;
}

/** What `bpftool -j net show dev X` prints per device: attachments by kind (xdp, tc, netkit, tcx...). */
export type BpftoolNet = Record<string, Record<string, unknown>[]>;

/** One BPF link from `bpftool -j link show`. */
export interface BpftoolLink {
  id: number;
  type: string;
  prog_id: number;
  [k: string]: unknown;
}

/** Parse iproute2/bpftool JSON; both print nothing at all for some empty answers. */
function parseJson<T>(text: string): T[] {
  return text.trim() === '' ? [] : (JSON.parse(text) as T[]);
}

/** Run `ip -j <args>` in the chosen netns and parse its output. */
export async function ipJson<T>(args: readonly string[], opts: ReadOptions = {}): Promise<T[]> {
  const ns = opts.netns === undefined ? [] : ['-n', opts.netns];
  const r = await runOk(['ip', ...ns, '-j', ...args], { timeoutMs: 10_000 });
  return parseJson<T>(r.stdout);
}

/** All links with details (`ip -j -d link show`), or just `dev` when given. */
export function ipLinks(opts: ReadOptions & { dev?: string } = {}): Promise<IpLink[]> {
  return ipJson<IpLink>(['-d', 'link', 'show', ...(opts.dev === undefined ? [] : ['dev', opts.dev])], opts);
}

/** One link by name, or undefined when it does not exist. */
export async function ipLink(dev: string, opts: ReadOptions = {}): Promise<IpLink | undefined> {
  return (await ipLinks(opts)).find((l) => l.ifname === dev);
}

/** Links with their addresses (`ip -j addr`). */
export function ipAddrs(opts: ReadOptions & { dev?: string } = {}): Promise<IpAddrLink[]> {
  return ipJson<IpAddrLink>(['addr', 'show', ...(opts.dev === undefined ? [] : ['dev', opts.dev])], opts);
}

/** Routes of one family (`ip -j route` / `ip -j -6 route`), main table unless `table` is given. */
export function ipRoutes(opts: ReadOptions & { family?: 4 | 6; table?: string } = {}): Promise<IpRoute[]> {
  const fam = opts.family === 6 ? ['-6'] : [];
  const table = opts.table === undefined ? [] : ['table', opts.table];
  return ipJson<IpRoute>([...fam, 'route', 'show', ...table], opts);
}

/** Run `bpftool -j <args>`, inside a netns when asked (via ip netns exec: bpftool needs no /sys here). */
export async function bpftoolJson<T>(args: readonly string[], opts: ReadOptions = {}): Promise<T[]> {
  const argv = ['bpftool', '-j', ...args];
  const r = await runOk(opts.netns === undefined ? argv : netnsExecArgv(opts.netns, argv), { timeoutMs: 10_000 });
  return parseJson<T>(r.stdout);
}

/** All BPF links in the kernel (`bpftool -j link show`; links are global, not per netns). */
export function bpftoolLinks(): Promise<BpftoolLink[]> {
  return bpftoolJson<BpftoolLink>(['link', 'show']);
}

/** Programs attached to one device (`bpftool -j net show dev X`), by attach kind. */
export async function bpftoolNet(dev: string, opts: ReadOptions = {}): Promise<BpftoolNet> {
  const all = await bpftoolJson<BpftoolNet>(['net', 'show', 'dev', dev], opts);
  return all[0] ?? {};
}

/**
 * Everything under `dir` (pins, records) as sorted paths relative to it, directories
 * with a trailing "/" so an empty leftover dir shows; [] if `dir` is missing.
 */
/** What containers pinned under bpffsDir: everything but the shared
 * programs (<bpffsDir>/_prog_<hash>/, which stay pinned for the next
 * container). */
export async function containerPins(bpffsDir: string): Promise<string[]> {
  return (await listFiles(bpffsDir)).filter((f) => !f.startsWith('_prog_'));
}

export async function listFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.isDirectory()) {
      out.push(`${e.name}/`);
      for (const sub of await listFiles(join(dir, e.name))) out.push(join(e.name, sub));
    } else {
      out.push(e.name);
    }
  }
  return out.sort();
}
