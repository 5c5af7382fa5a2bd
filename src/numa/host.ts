// The NUMA plan for this host: sysfs topology + uplink + cpuset -> planNuma.
// Reads files only; the default route comes from the caller (netlink).
import { NumaPlan, NumaSettings, planNuma } from './plan';
import { NicInfo, Topology, readNic, readTopology, resolveUplink } from './topology';

// Inputs of planHostNuma.
export interface HostNumaOptions {
  settings: NumaSettings;
  sysfsRoot: string;
  /** config uplink (or --uplink); when absent, defaultRouteDevice() is asked. */
  uplink?: string;
  /** The container's pinned CPUs, if any. */
  cpuset?: number[];
  /** The device of the default route, e.g. from an RTM_GETROUTE dump; called only when needed. */
  defaultRouteDevice: () => string | undefined;
}

// The plan with what it was made from.
export interface HostNumaPlan {
  plan: NumaPlan;
  topology: Topology;
  uplink?: NicInfo;
}

// Reads the topology under sysfsRoot and plans; never writes anything.
export function planHostNuma(o: HostNumaOptions): HostNumaPlan {
  const topology = readTopology(o.sysfsRoot);
  const which = o.settings.numa === 'off' ? undefined : resolveUplink(o.uplink, o.defaultRouteDevice);
  const uplink = which ? readNic(o.sysfsRoot, which.name, which.source) : undefined;
  const plan = planNuma({
    topology,
    settings: o.settings,
    ...(o.cpuset ? { cpuset: o.cpuset } : {}),
    ...(uplink ? { uplink } : {}),
  });
  return { plan, topology, ...(uplink ? { uplink } : {}) };
}
