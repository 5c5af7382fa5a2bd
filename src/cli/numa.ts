// `nkit numa`: the NUMA plan the hook would apply on this host, without
// touching anything.
import * as path from 'node:path';
import { Command } from 'commander';
import { LoadedConfig } from '../config/config';
import { NkitError } from '../errors';
import { formatCpuList, parseCpuList, parseCpuMask } from '../numa/cpulist';
import { HostNumaPlan, planHostNuma } from '../numa/host';
import { numaSettings } from '../numa/plan';

type Out = (s: string) => void;

interface NumaOpts {
  sysfsRoot?: string;
  uplink?: string;
  cpus?: string;
  json?: boolean;
}

// The JSON object of `nkit numa --json` (and what a record can keep).
export function numaJson(h: HostNumaPlan, cpuset: number[] | undefined): Record<string, unknown> {
  const p = h.plan;
  return {
    node: p.node,
    cpus: p.cpus,
    queues: p.queues,
    xps: p.xps,
    rps: p.rps,
    reason: p.reason,
    warnings: p.warnings,
    basis: p.basis,
    nrCpuIds: p.nrCpuIds,
    uplink: h.uplink ?? null,
    cpuset: cpuset ? formatCpuList(cpuset) : null,
    sysfsRoot: h.topology.root,
  };
}

// The human table of a plan.
export function formatNuma(h: HostNumaPlan, cpuset: number[] | undefined): string {
  const p = h.plan;
  const rows: Array<[string, string]> = [
    ['node', p.node === null ? '-' : String(p.node)],
    ['cpus', p.cpus.length ? formatCpuList(p.cpus) : '-'],
    ['queues', String(p.queues)],
    ['rps', p.rps ?? '(left as is)'],
  ];
  if (!p.xps.length) rows.push(['xps', '(left as is)']);
  const width = Math.max(...p.xps.map((m) => m.length), 0);
  p.xps.forEach((m, i) => rows.push([i === 0 ? 'xps' : '', `tx-${i} ${m.padStart(width)}  cpu ${formatCpuList(parseCpuMask(m, 'XPS mask'))}`]));
  const u = h.uplink;
  rows.push(['uplink', u ? `${u.name} (${u.source === 'route' ? 'default route' : 'config'}): ${!u.present ? 'not found' : u.node === null ? 'no NUMA information' : `node ${u.node}`}` : '-']);
  rows.push(['cpuset', cpuset ? formatCpuList(cpuset) : '-']);
  rows.push(['reason', p.reason]);
  for (const w of p.warnings) rows.push(['warning', w]);
  return rows.map(([k, v]) => `${k.padEnd(8)}${v}`.trimEnd()).join('\n');
}

// Adds `nkit numa [--sysfs-root DIR] [--uplink DEV] [--cpus LIST] [--json]`.
export function addNumaCommand(program: Command, config: () => LoadedConfig, out: Out, defaultRouteDevice: () => string | undefined): void {
  program
    .command('numa')
    .description('print the NUMA placement the hook would apply (node, CPUs, queue count, XPS/RPS masks) and why; changes nothing')
    .option('--sysfs-root <dir>', 'read the topology from DIR instead of config sysfsRoot (default /sys)')
    .option('--uplink <dev>', 'follow this NIC instead of config uplink or the default route\'s device')
    .option('--cpus <list>', 'plan for a container pinned to these CPUs (a cpulist such as 0-3,8)')
    .option('--json', 'print JSON')
    .action((o: NumaOpts) => {
      const s = numaSettings(config());
      let cpuset: number[] | undefined;
      if (o.cpus !== undefined) {
        try {
          cpuset = parseCpuList(o.cpus, '--cpus');
        } catch (err) {
          throw new NkitError('EUSAGE', (err as Error).message, { cause: err });
        }
        if (!cpuset.length) throw new NkitError('EUSAGE', '--cpus needs at least one CPU');
      }
      if (o.sysfsRoot === '') throw new NkitError('EUSAGE', '--sysfs-root needs a directory');
      const h = planHostNuma({
        settings: s,
        sysfsRoot: o.sysfsRoot ? path.resolve(o.sysfsRoot) : s.sysfsRoot,
        ...(o.uplink ?? s.uplink ? { uplink: (o.uplink ?? s.uplink)! } : {}),
        ...(cpuset ? { cpuset } : {}),
        defaultRouteDevice,
      });
      out(o.json ? `${JSON.stringify(numaJson(h, cpuset), null, 2)}\n` : `${formatNuma(h, cpuset)}\n`);
    });
}
