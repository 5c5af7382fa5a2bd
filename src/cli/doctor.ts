// `nkit doctor`: what this host can do (netkit, tcx, bpffs, BTF), which
// datapath "auto" would pick and why, the runtimes, and the config.
import { execFileSync } from 'node:child_process';
import { KernelReport, probeKernel } from '../datapath/probe';
import { LoadedConfig } from '../config/config';
import { RuntimeWiring, wiringReport } from '../integrations/wiring';

export interface DoctorReport extends KernelReport {
  runtimes: Record<string, string>;
  /** For each engine found: is nkit wired into it, and what to add if not. */
  wiring: RuntimeWiring[];
  config: { source: string; ok: boolean; detail: string; datapath?: string };
}

function versionOf(cmd: string): string {
  try {
    return execFileSync(cmd, ['--version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!.trim();
  } catch {
    return 'not found';
  }
}

// Gathers the report; `config` is the loaded config or the error loading it.
export function doctor(config: LoadedConfig | { source: string; error: Error }): DoctorReport {
  const kernel = probeKernel();
  const cfg =
    'error' in config
      ? { source: config.source, ok: false, detail: config.error.message }
      : { source: config.source, ok: true, detail: 'valid', datapath: config.datapath };
  return { ...kernel, runtimes: { runc: versionOf('runc'), crun: versionOf('crun') }, wiring: wiringReport(), config: cfg };
}

const mark = (ok: boolean): string => (ok ? 'ok  ' : 'NO  ');

// The human rendering of the report.
export function formatDoctor(r: DoctorReport): string {
  const lines = [
    `kernel      ${r.kernel}`,
    `netkit      ${mark(r.netkit.available)}${r.netkit.detail}`,
  ];
  if (r.netkit.features) {
    const f = r.netkit.features;
    const yn = (b: boolean): string => (b ? 'yes' : 'no');
    lines.push(`  features  scrub ${yn(f.scrub)}, headroom ${yn(f.headroom)}, tailroom ${yn(f.tailroom)}, pairing ${yn(f.pairing)}`);
  }
  lines.push(
    `tcx         ${mark(r.tcx.available)}${r.tcx.detail}`,
    `bpffs       ${mark(r.bpffs.available)}${r.bpffs.detail}`,
    `btf         ${mark(r.btf.available)}${r.btf.detail}`,
    `auto picks  ${r.auto.datapath}: ${r.auto.reason}`,
    `runc        ${r.runtimes.runc}`,
    `crun        ${r.runtimes.crun}`,
    `config      ${mark(r.config.ok)}${r.config.source}: ${r.config.detail}${r.config.datapath ? ` (datapath ${r.config.datapath})` : ''}`,
  );
  lines.push('wiring      (is nkit wired into each engine found here?)');
  for (const w of r.wiring.filter((x) => x.found)) {
    // runc and crun take hooks per bundle: there is nothing to wire host-wide.
    const state = w.runtime === 'runc' || w.runtime === 'crun' ? 'n/a ' : mark(w.wired);
    lines.push(`  ${w.runtime.padEnd(12)}${state}${w.detail}`);
    if (w.fix && !w.wired) lines.push(`${' '.repeat(16)}fix: ${w.fix.split('\n').join(`\n${' '.repeat(21)}`)}`);
  }
  return lines.join('\n');
}
