// `nkit status`: one row per container record.
import { Config } from '../config/config';
import { ContainerRecord, listRecords } from '../lifecycle/record';

export interface StatusRow {
  id: string;
  state: string;
  datapath: string;
  primary: string;
  addresses: string[];
  policy: string;
  network?: string;
  reason?: string;
  numa?: ContainerRecord['numa'];
  /** Where the container's maps sit in the shared programs' arrays (its
   * host device has ifindex IFINDEX_BASE + slot), and which programs. */
  slot?: number;
  programs?: string;
  error?: string;
}

// Rows for every record under runDir (corrupt records become error rows).
export function status(cfg: Config): StatusRow[] {
  return listRecords(cfg.runDir).map((r) =>
    'id' in r && !(r instanceof Error)
      ? {
          id: r.id,
          state: r.state,
          datapath: r.datapath ?? '-',
          primary: r.primary.name,
          addresses: r.addresses.map((a) => `${a.address}/${a.prefixLen}`),
          policy: r.policy.name,
          network: r.network,
          ...(r.datapathReason ? { reason: r.datapathReason } : {}),
          ...(r.numa ? { numa: r.numa } : {}),
          ...(r.bpf.slot !== undefined ? { slot: r.bpf.slot } : {}),
          ...(r.bpf.shared ? { programs: r.bpf.shared } : {}),
        }
      : { id: '?', state: 'corrupt', datapath: '-', primary: '-', addresses: [], policy: '-', error: (r as Error).message },
  );
}

// "node 0, 2 queues" (or "-"), flagged when the masks could not be written.
function numaCell(n: ContainerRecord['numa']): string {
  if (!n) return '-';
  const where = n.node === null ? 'all CPUs' : `node ${n.node}`;
  return `${where}, ${n.queues} queue${n.queues === 1 ? '' : 's'}${n.applied ? '' : ' (masks NOT applied)'}`;
}

// A fixed-width table; fallbacks are flagged so an operator sees them.
export function formatStatus(rows: StatusRow[]): string {
  if (!rows.length) return 'no containers';
  const head = ['ID', 'STATE', 'DATAPATH', 'PRIMARY', 'ADDRESSES', 'POLICY', 'NUMA'];
  const body = rows.map((r) => [
    r.id,
    r.state,
    r.reason?.startsWith('auto fallback') ? `${r.datapath} (fallback)` : r.datapath,
    r.primary,
    r.addresses.join(',') || '-',
    r.error ? `ERROR: ${r.error}` : r.policy,
    numaCell(r.numa),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
