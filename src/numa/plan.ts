// The NUMA placement decision (pure): which node's CPUs serve a container's
// link, how many queues it gets, and the XPS/RPS masks, with the reason.
//
// Choice of CPUs, first match wins:
//   numa "off"        no placement: masks left as they are (xps [], rps null)
//   numa N            node N (EINPUT if it does not exist or has no online CPU)
//   cpuset on 1 node  that node (the container's threads run there)
//   uplink's node     the NIC's device/numa_node (also when the cpuset spans nodes)
//   only one node     that node (a one-node machine needs no NIC hint)
//   otherwise         all online CPUs, node null
// The chosen CPUs are always the node's online CPUs, not just the cpuset's:
// the host side transmits on the CPUs that receive from the uplink.
// Offline CPUs never appear; a cpuset's offline CPUs are ignored (warning).
//
// XPS, following Documentation/networking/scaling.rst ("XPS is preferably
// configured so that each CPU maps onto one queue"): with the node's CPUs
// c[0..n-1] and q queues, pair k = 0..max(n,q)-1 maps CPU c[k mod n] onto
// queue k mod q. So n = q gives exclusive pairs, n > q spreads CPUs
// round-robin (queue i gets c[i], c[i+q], ...), and n < q (only with an
// explicit queue count) gives queue i the CPU c[i mod n]; such a CPU maps
// onto several queues and the kernel picks among them by flow hash.
// RPS: every rx queue gets all the chosen CPUs.
import { Config } from '../config/config';
import { NkitError } from '../errors';
import { formatCpuList, formatCpuMask } from './cpulist';
import { NicInfo, Topology } from './topology';

// config numa: placement mode or a fixed node.
export type NumaChoice = 'auto' | 'off' | number;
// config queues: one per chosen CPU (capped by maxQueues) or a fixed count.
export type QueuesChoice = 'auto' | number;

// The config keys the planner obeys.
export interface NumaSettings {
  numa: NumaChoice;
  queues: QueuesChoice;
  maxQueues: number;
}

/** Queue counts nkit asks for: the kernel takes 1..4096 (rtnl_create_link), netkit and veth add no limit; 64 is our sane bound. */
export const MAX_QUEUES = 64;
/** Highest node number the kernel can have (MAX_NUMNODES = 1 << 10). */
export const MAX_NODE = 1023;

/** The defaults of the config keys numa, queues, maxQueues and sysfsRoot. */
export const NUMA_DEFAULTS = { numa: 'auto', queues: 'auto', maxQueues: 8, sysfsRoot: '/sys' } as const;

// The NUMA settings of a config, defaults filled in.
export function numaSettings(cfg: Partial<Pick<Config, 'numa' | 'queues' | 'maxQueues' | 'sysfsRoot' | 'uplink'>>): NumaSettings & { sysfsRoot: string; uplink?: string } {
  return {
    numa: cfg.numa ?? NUMA_DEFAULTS.numa,
    queues: cfg.queues ?? NUMA_DEFAULTS.queues,
    maxQueues: cfg.maxQueues ?? NUMA_DEFAULTS.maxQueues,
    sysfsRoot: cfg.sysfsRoot ?? NUMA_DEFAULTS.sysfsRoot,
    ...(cfg.uplink !== undefined ? { uplink: cfg.uplink } : {}),
  };
}

// What the planner decides from (all read beforehand).
export interface NumaInput {
  topology: Topology;
  settings: NumaSettings;
  /** The container's linux.resources.cpu.cpus, parsed; undefined when not pinned. */
  cpuset?: number[];
  /** The uplink NIC; undefined when none was configured and there is no default route. */
  uplink?: NicInfo;
}

// What decided the CPUs (the first rule that matched, see the top of this file).
export type NumaBasis = 'off' | 'config' | 'cpuset' | 'uplink' | 'single-node' | 'all-cpus' | 'no-cpus';

// The decision: what the hook applies, records and `nkit numa` prints.
export interface NumaPlan {
  /** The chosen node; null when placement is off or there is no NUMA information. */
  node: number | null;
  /** The CPUs the masks are made of (online CPUs of the node, or all online CPUs). */
  cpus: number[];
  /** TX and RX queues of each device of the pair. */
  queues: number;
  /** One hex mask per TX queue (tx-0 first); empty when masks are left alone. */
  xps: string[];
  /** The mask for every RX queue; null when left alone. */
  rps: string | null;
  /** One sentence: what was chosen and why. */
  reason: string;
  warnings: string[];
  basis: NumaBasis;
  /** The mask width (nr_cpu_ids). */
  nrCpuIds: number;
}

function checkSettings(s: NumaSettings): void {
  const int = (v: unknown, lo: number, hi: number): boolean => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
  if (s.numa !== 'auto' && s.numa !== 'off' && !int(s.numa, 0, MAX_NODE)) {
    throw new NkitError('EINPUT', `numa must be "auto", "off" or a node number 0..${MAX_NODE}, not ${JSON.stringify(s.numa)}`);
  }
  if (s.queues !== 'auto' && !int(s.queues, 1, MAX_QUEUES)) {
    throw new NkitError('EINPUT', `queues must be "auto" or 1..${MAX_QUEUES}, not ${JSON.stringify(s.queues)}`);
  }
  if (!int(s.maxQueues, 1, MAX_QUEUES)) throw new NkitError('EINPUT', `maxQueues must be 1..${MAX_QUEUES}, not ${JSON.stringify(s.maxQueues)}`);
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

// Queue count and its explanation for n chosen CPUs.
function queueCount(s: NumaSettings, n: number): { queues: number; why: string } {
  if (s.queues !== 'auto') {
    const more = n > 0 && s.queues > n ? ` (more than the ${plural(n, 'CPU')}: CPUs serve several queues)` : '';
    return { queues: s.queues, why: `${plural(s.queues, 'queue')} as configured${more}` };
  }
  if (n === 0) return { queues: 1, why: '1 queue (no CPU known)' };
  const queues = Math.min(n, s.maxQueues);
  return { queues, why: `${plural(queues, 'queue')}: one per CPU${queues < n ? `, capped by maxQueues ${s.maxQueues}` : ''}` };
}

// XPS masks: CPU cpus[k mod n] onto queue k mod q, k = 0..max(n,q)-1.
export function xpsSpread(cpus: readonly number[], queues: number): number[][] {
  const per: number[][] = Array.from({ length: queues }, () => []);
  if (cpus.length === 0) return per;
  for (let k = 0; k < Math.max(cpus.length, queues); k++) {
    const q = per[k % queues]!;
    const c = cpus[k % cpus.length]!;
    if (!q.includes(c)) q.push(c);
  }
  return per.map((q) => q.sort((a, b) => a - b));
}

// Decides node, CPUs, queue count and masks; throws EINPUT for bad settings
// or a configured node that does not exist or has no online CPU.
export function planNuma(input: NumaInput): NumaPlan {
  const { topology: topo, settings } = input;
  checkSettings(settings);
  const warnings: string[] = [];
  const online = new Set(topo.online);
  const nodes = topo.nodes.map((n) => ({ id: n.id, cpus: n.cpus.filter((c) => online.has(c)) }));
  const nodeOf = (id: number): { id: number; cpus: number[] } | undefined => nodes.find((n) => n.id === id);
  const all = [...online].sort((a, b) => a - b);
  const nbits = Math.max(topo.nrCpuIds, all.length ? all[all.length - 1]! + 1 : 0);

  if (settings.numa === 'off') {
    const q = queueCount(settings, all.length);
    return {
      node: null, cpus: all, queues: q.queues, xps: [], rps: null, warnings, basis: 'off', nrCpuIds: nbits,
      reason: `NUMA placement off (numa "off"): XPS and RPS masks left as they are; ${q.why}`,
    };
  }

  // The container's CPUs and the nodes they lie on.
  let pinned: number[] | undefined;
  let pinnedNodes: number[] = [];
  if (input.cpuset && input.cpuset.length) {
    const list = formatCpuList(input.cpuset);
    const off = input.cpuset.filter((c) => !online.has(c));
    pinned = input.cpuset.filter((c) => online.has(c));
    if (off.length) warnings.push(`the container's cpuset ${list} names CPUs that are not online (${formatCpuList(off)}): ignored`);
    if (!pinned.length) {
      warnings.push(`the container's cpuset ${list} has no online CPU: placement ignores it`);
      pinned = undefined;
    } else {
      pinnedNodes = nodes.filter((n) => n.cpus.some((c) => pinned!.includes(c))).map((n) => n.id);
    }
  }
  const cpusetText = pinned ? formatCpuList(pinned) : '';
  const cpusetNode = pinnedNodes.length === 1 ? pinnedNodes[0] : undefined;

  // The uplink's node, when it names a node with CPUs to use.
  const nic = input.uplink;
  const nicName = nic ? `the uplink ${nic.name}${nic.source === 'route' ? ' (default route)' : ''}` : '';
  let nicNode: number | undefined;
  if (nic && nic.node !== null) {
    const n = nodeOf(nic.node);
    if (!n) warnings.push(`${nicName} reports node ${nic.node}, which is not among the nodes under ${topo.root}: ignored`);
    else if (!n.cpus.length) warnings.push(`${nicName} is on node ${nic.node}, which has no online CPU: ignored`);
    else nicNode = nic.node;
  }

  let node: number | null;
  let cpus: number[];
  let basis: NumaBasis;
  let why: string;
  if (typeof settings.numa === 'number') {
    const n = nodeOf(settings.numa);
    if (!n) {
      const have = nodes.length ? `nodes: ${nodes.map((x) => x.id).join(',')}` : `no NUMA nodes under ${topo.root}`;
      throw new NkitError('EINPUT', `numa node ${settings.numa} (config numa) does not exist (${have})`);
    }
    if (!n.cpus.length) throw new NkitError('EINPUT', `numa node ${settings.numa} (config numa) has no online CPU`);
    [node, cpus, basis, why] = [n.id, n.cpus, 'config', `node ${n.id}: set by config numa ${n.id}`];
    if (cpusetNode !== undefined && cpusetNode !== n.id) warnings.push(`the container's cpuset ${cpusetText} is on node ${cpusetNode} but config numa is ${n.id}: chose node ${n.id}`);
  } else if (cpusetNode !== undefined) {
    [node, cpus, basis] = [cpusetNode, nodeOf(cpusetNode)!.cpus, 'cpuset'];
    why = `node ${cpusetNode}: the container's cpuset ${cpusetText} lies on it`;
  } else if (nicNode !== undefined) {
    [node, cpus, basis] = [nicNode, nodeOf(nicNode)!.cpus, 'uplink'];
    why = `node ${nicNode}: ${nicName} is on it`;
    if (pinnedNodes.length > 1) why += ` (the container's cpuset ${cpusetText} spans nodes ${pinnedNodes.join(',')})`;
    if (pinnedNodes.length > 1 && !pinnedNodes.includes(nicNode)) {
      warnings.push(`the container's cpuset ${cpusetText} is on nodes ${pinnedNodes.join(',')} but ${nicName} is on node ${nicNode}: chose node ${nicNode}`);
    }
  } else {
    const withCpus = nodes.filter((n) => n.cpus.length);
    const gaps: string[] = [];
    if (!nodes.length) gaps.push(`the kernel shows no NUMA nodes under ${topo.root}`);
    if (pinnedNodes.length > 1) gaps.push(`the container's cpuset ${cpusetText} spans nodes ${pinnedNodes.join(',')}`);
    if (!nic) gaps.push('no uplink (no config uplink, no default route)');
    else if (!nic.present) gaps.push(`${nicName} is not under ${topo.root}/class/net`);
    else if (nic.node === null) gaps.push(`${nicName} has no NUMA information`);
    const gapText = gaps.length ? ` (${gaps.join('; ')})` : '';
    if (withCpus.length === 1) {
      [node, cpus, basis] = [withCpus[0]!.id, withCpus[0]!.cpus, 'single-node'];
      why = `node ${node}: the only NUMA node with online CPUs${gapText}`;
    } else if (all.length) {
      [node, cpus, basis] = [null, all, 'all-cpus'];
      why = `no node to follow${gapText}: all online CPUs`;
    } else {
      const q = queueCount(settings, 0);
      return {
        node: null, cpus: [], queues: q.queues, xps: [], rps: null, warnings, basis: 'no-cpus', nrCpuIds: nbits,
        reason: `no CPU information under ${topo.root} (missing ${topo.missing.join(', ') || 'CPU lists'}): XPS and RPS masks left as they are; ${q.why}`,
      };
    }
  }
  if (cpusetNode !== undefined && nicNode !== undefined && cpusetNode !== nicNode && basis !== 'config') {
    warnings.push(`the container's cpuset ${cpusetText} is on node ${cpusetNode} but ${nicName} is on node ${nicNode}: chose node ${cpusetNode} (the container's)`);
  }
  const q = queueCount(settings, cpus.length);
  return {
    node,
    cpus,
    queues: q.queues,
    xps: xpsSpread(cpus, q.queues).map((c) => formatCpuMask(c, nbits, 'XPS mask')),
    rps: formatCpuMask(cpus, nbits, 'RPS mask'),
    reason: `${why}; CPUs ${formatCpuList(cpus)}; ${q.why}`,
    warnings,
    basis,
    nrCpuIds: nbits,
  };
}

// The sysfs writes (paths under the sysfs root of the device's network
// namespace) that apply a plan to one device created with plan.queues TX
// and RX queues. xps_cpus is skipped on a single-queue device: the kernel
// answers ENOENT there (net-sysfs, !netif_is_multiqueue). rps_cpus exists
// only with CONFIG_RPS; callers may treat ENOENT there as "not supported".
export function maskWrites(plan: NumaPlan, dev: string): Array<{ file: string; value: string }> {
  const out: Array<{ file: string; value: string }> = [];
  if (plan.queues > 1) plan.xps.forEach((value, i) => out.push({ file: `class/net/${dev}/queues/tx-${i}/xps_cpus`, value }));
  if (plan.rps !== null) for (let i = 0; i < plan.queues; i++) out.push({ file: `class/net/${dev}/queues/rx-${i}/rps_cpus`, value: plan.rps });
  return out;
}
