// The in-kernel path of the benchmark: pairs of network namespaces joined by
// a veth ("ctr" plays the container, "host" the host side), the C sender
// that pushes frames through them, and the device counters that show what
// each filter let through. Everything lives in namespaces created here and
// deleted by removePairs, also when the run fails.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export const CTR_DEV = 'eth0';
export const HOST_DEV = 'h0';
// Fixed MACs that the frames' destination (02:02:02:02:02:02, from
// src/policy/packet.ts) never equals: every frame that gets past the filter
// is dropped at once by ip_rcv as PACKET_OTHERHOST and counted in the
// device's rx otherhost counter, so the path after the filter is short and
// the same for every variant.
const CTR_MAC = '02:6e:6b:62:00:01';
const HOST_MAC = '02:6e:6b:62:00:02';

export interface Pair {
  tag: string;
  ctr: string;
  host: string;
  /** fd of the host netns (for bpfLinkCreate). */
  hostFd: number;
  /** ifindex of h0 inside the host netns. */
  hostIfindex: number;
}

export type Side = 'ctr' | 'host';

const run = (argv: string[], input?: string): string =>
  execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input === undefined ? {} : { input }) });

export const netnsPath = (name: string): string => `/run/netns/${name}`;

const created: Pair[] = [];

// Creates a pair: ctr/eth0 <-> host/h0, both up, IPv6 off (no DAD or
// router solicitations among the measured frames). ifindex: the one both
// devices get (nkit's programs find a container's slot by it).
export function createPair(prefix: string, tag: string, ifindex?: number): Pair {
  const pair: Pair = { tag, ctr: `${prefix}-${tag}-c`, host: `${prefix}-${tag}-h`, hostFd: -1, hostIfindex: 0 };
  created.push(pair); // before anything exists, so a failure half-way is cleaned up too
  for (const ns of [pair.ctr, pair.host]) {
    run(['ip', 'netns', 'add', ns]);
    run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  }
  // The kernel gives the peer its index only when the first device has one too.
  const index = (i: number | undefined): string[] => (i === undefined ? [] : ['index', String(i)]);
  run(['ip', 'link', 'add', CTR_DEV, ...index(ifindex), 'netns', pair.ctr, 'address', CTR_MAC, 'type', 'veth', 'peer', 'name', HOST_DEV, ...index(ifindex), 'netns', pair.host, 'address', HOST_MAC]);
  run(['ip', '-n', pair.ctr, 'link', 'set', CTR_DEV, 'up']);
  run(['ip', '-n', pair.host, 'link', 'set', HOST_DEV, 'up']);
  pair.hostFd = fs.openSync(netnsPath(pair.host), 'r');
  pair.hostIfindex = (JSON.parse(run(['ip', '-n', pair.host, '-j', 'link', 'show', HOST_DEV])) as Array<{ ifindex: number }>)[0]!.ifindex;
  return pair;
}

// Deletes every namespace createPair made (idempotent; errors ignored).
export function removePairs(): void {
  while (created.length > 0) {
    const p = created.pop()!;
    if (p.hostFd >= 0) fs.closeSync(p.hostFd);
    for (const ns of [p.ctr, p.host]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

// Loads an nftables ruleset into the pair's host netns (replacing its own).
export function nftLoad(pair: Pair, ruleset: string): void {
  run(['nsenter', `--net=${netnsPath(pair.host)}`, 'nft', '-f', '-'], ruleset);
}

// Frames that got past the filter on the receiving device of a direction.
export function otherhost(pair: Pair, from: Side): number {
  const [ns, dev] = from === 'ctr' ? [pair.host, HOST_DEV] : [pair.ctr, CTR_DEV];
  const j = JSON.parse(run(['ip', '-n', ns, '-j', '-s', '-s', 'link', 'show', dev])) as Array<{ stats64: { rx: { otherhost?: number } } }>;
  return j[0]!.stats64.rx.otherhost ?? 0;
}

export interface Job {
  id: string;
  pair: Pair;
  /** Which end sends: ctr (container egress, tcx ingress on h0) or host (towards the container, tcx egress on h0). */
  from: Side;
  frame: Buffer;
}

export interface JobResult {
  packets: number;
  cpuNs: number;
  wallNs: number;
  /** Every frame sent, the warm-up round included. */
  total: number;
  /** CPU time ksoftirqd spent meanwhile (softirq work not charged to the sender). */
  softirqdNs: number;
}

// The pid of ksoftirqd/<cpu>, or 0 when there is none to be found.
export function ksoftirqdPid(cpu: number): number {
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/comm`, 'utf8').trim() === `ksoftirqd/${cpu}`) return Number(e);
    } catch {
      // gone meanwhile
    }
  }
  return 0;
}

// Runs the sender once over all jobs, taking turns; one result per job.
export function runSender(sender: string, cpu: number, burstUs: number, rounds: number, jobs: Job[]): JobResult[] {
  const args = [String(cpu), String(ksoftirqdPid(cpu)), String(burstUs), String(rounds)];
  for (const j of jobs) args.push(`${netnsPath(j.from === 'ctr' ? j.pair.ctr : j.pair.host)},${j.from === 'ctr' ? CTR_DEV : HOST_DEV},${j.frame.toString('hex')}`);
  const r = spawnSync(sender, args, { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`sender failed (${r.status ?? r.signal}): ${r.stderr || r.error?.message}`);
  const lines = r.stdout.trim().split('\n');
  if (lines.length !== jobs.length) throw new Error(`sender printed ${lines.length} lines for ${jobs.length} jobs`);
  return lines.map((l) => {
    const [packets, cpuNs, wallNs, total, softirqdNs] = l.split(' ').map(Number) as [number, number, number, number, number];
    return { packets, cpuNs, wallNs, total, softirqdNs };
  });
}
