// `nkit capture`, `nkit metrics` and `nkit status ID`: what the datapath does.
import * as path from 'node:path';
import { Command } from 'commander';
import { LoadedConfig } from '../config/config';
import { NkitError } from '../errors';
import { capture } from '../lifecycle/capture';
import { readStats, readyRecord, Stats } from '../lifecycle/policy-ops';
import { ContainerRecord, listRecords } from '../lifecycle/record';
import { addon } from '../native';

type Out = (s: string) => void;

export interface ProgramInfo {
  pin: string;
  linkId: number;
  progId: number;
  tag: string;
}

// The link and program behind each pinned link of a container.
export function programsOf(rec: ContainerRecord): ProgramInfo[] {
  const a = addon();
  return ['link_egress', 'link_ingress'].flatMap((pin) => {
    let fd: number | undefined;
    let prog: number | undefined;
    try {
      fd = a.bpfObjGet(path.join(rec.bpf.pinDir, pin));
      const link = a.bpfObjInfo(fd, 64); // struct bpf_link_info: type, id, prog_id
      prog = a.bpfGetFdById('prog', link.readUInt32LE(8));
      const info = a.bpfObjInfo(prog, 64); // struct bpf_prog_info: type, id, tag[8]
      return [{ pin, linkId: link.readUInt32LE(4), progId: info.readUInt32LE(4), tag: info.subarray(8, 16).toString('hex') }];
    } catch {
      return [];
    } finally {
      if (fd !== undefined) a.closeFd(fd);
      if (prog !== undefined) a.closeFd(prog);
    }
  });
}

export interface ContainerDetail {
  record: ContainerRecord;
  programs: ProgramInfo[];
  counters: Stats;
}

export function detail(cfg: LoadedConfig, id: string): ContainerDetail {
  const record = readyRecord(cfg, id);
  return { record, programs: programsOf(record), counters: readStats(cfg, id) };
}

export function formatDetail(d: ContainerDetail): string {
  const r = d.record;
  const n = r.numa;
  const lines = [
    `container   ${r.id} (${r.state}), network ${r.network}, mode ${r.mode}, mtu ${r.mtu}`,
    `datapath    ${r.datapath ?? '-'}: ${r.datapathReason ?? ''}`,
    `devices     ${r.primary.name} (ifindex ${r.primary.ifindex ?? '?'}) <-> ${r.peer.name} in ${r.netns.path}`,
    `features    ${r.features ? Object.entries(r.features).map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`).join(', ') : '-'}${r.datapath === 'netkit' ? ' (scrub: primary none, peer default)' : ''}`,
    `addresses   ${r.addresses.map((a) => `${a.address}/${a.prefixLen} (host ${a.gateway})`).join(', ')}`,
    `numa        ${n ? `${n.node === null ? 'all CPUs' : `node ${n.node}`}, CPUs ${n.cpus.join(',')}, ${n.queues} queues, rps ${n.rps ?? '-'}, xps ${n.xps.join(' ') || '-'}${n.applied ? '' : ' (NOT applied)'}: ${n.reason}` : '-'}`,
    `policy      ${r.policy.name} (from ${r.policy.source})`,
    `bpf         slot ${r.bpf.slot ?? '-'} of the programs in ${r.bpf.shared ?? '-'} (shared by every container); own maps in ${r.bpf.pinDir}`,
    ...d.programs.map((p) => `program     ${p.pin}: link ${p.linkId}, prog ${p.progId}, tag ${p.tag}`),
    'counters    direction reason packets bytes',
  ];
  for (const dir of ['ingress', 'egress'] as const) {
    for (const [reason, c] of Object.entries(d.counters[dir])) if (c.packets) lines.push(`            ${dir} ${reason} ${c.packets} ${c.bytes}`);
  }
  return lines.join('\n');
}

// Prometheus text exposition of every ready container's counters.
export function metrics(cfg: LoadedConfig): string {
  const recs = listRecords(cfg.runDir).filter((r): r is ContainerRecord => !(r instanceof Error) && r.state === 'ready');
  const lines = [
    '# HELP nkit_containers Containers with an nkit network, by datapath.',
    '# TYPE nkit_containers gauge',
    ...['netkit', 'veth'].map((dp) => `nkit_containers{datapath="${dp}"} ${recs.filter((r) => r.datapath === dp).length}`),
    '# HELP nkit_packets_total Packets judged by a container\'s policy program, by direction and reason.',
    '# TYPE nkit_packets_total counter',
  ];
  const bytes = ['# HELP nkit_bytes_total Bytes judged by a container\'s policy program, by direction and reason.', '# TYPE nkit_bytes_total counter'];
  for (const r of recs) {
    let s: Stats;
    try {
      s = readStats(cfg, r.id);
    } catch {
      continue; // torn down meanwhile
    }
    for (const dir of ['ingress', 'egress'] as const) {
      for (const [reason, c] of Object.entries(s[dir])) {
        const labels = `container="${r.id}",direction="${dir}",reason="${reason}",datapath="${r.datapath ?? ''}"`;
        lines.push(`nkit_packets_total{${labels}} ${c.packets}`);
        bytes.push(`nkit_bytes_total{${labels}} ${c.bytes}`);
      }
    }
  }
  return `${[...lines, ...bytes].join('\n')}\n`;
}

export function addObserveCommands(program: Command, config: () => LoadedConfig, out: Out): void {
  program
    .command('capture <id>')
    .description('write the packets a container\'s policy program sees, passed and dropped (with why), to a pcapng file for tcpdump -r / Wireshark')
    .requiredOption('-w, --write <file>', 'pcapng file to write')
    .option('--dir <dir>', 'ingress, egress or both', 'both')
    .option('--count <n>', 'stop after N packets (0: no limit)', '0')
    .option('--timeout <s>', 'stop after S seconds (0: no limit; Ctrl-C stops too)', '0')
    .action(async (id: string, o: { write: string; dir: string; count: string; timeout: string }) => {
      if (!['ingress', 'egress', 'both'].includes(o.dir)) throw new NkitError('EUSAGE', `--dir must be ingress, egress or both, not "${o.dir}"`);
      for (const [k, v] of [['count', o.count], ['timeout', o.timeout]] as const) if (!/^\d+$/.test(v)) throw new NkitError('EUSAGE', `--${k} must be a whole number, not "${v}"`);
      const stop = { requested: false };
      const onSig = (): void => {
        stop.requested = true;
      };
      process.on('SIGINT', onSig);
      process.on('SIGTERM', onSig);
      try {
        const r = await capture(config(), id, { dir: o.dir as 'both', count: Number(o.count), timeoutS: Number(o.timeout), file: o.write, stop });
        process.stderr.write(`nkit capture: ${r.packets} packets of ${id} written to ${r.file}\n`);
      } finally {
        process.off('SIGINT', onSig);
        process.off('SIGTERM', onSig);
      }
    });

  program
    .command('metrics')
    .description('per-container policy counters in Prometheus text format (for node_exporter\'s textfile collector)')
    .action(() => out(metrics(config())));
}
