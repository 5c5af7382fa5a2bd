// bench/chart.svg: horizontal bar charts (median, with a min-max whisker) of
// container setup/teardown latency and of the policy program's per-packet
// cost, written by hand (pure: results in, SVG text out).
import { LABELS } from './run-report';
import type { RunResults } from './run';
import { PACKET_RULES } from './packet-cost';
import { fmtNum, summarize, type Summary } from './stats';

export interface Bar {
  label: string;
  s: Summary;
  color: string;
  /** Text after the value, e.g. "4.2x ptp". */
  note?: string;
}

export interface Panel {
  title: string;
  subtitle: string;
  unit: string;
  rows: Array<Bar | { header: string }>;
}

const W = 960;
const LABEL_W = 250;
const VALUE_W = 260;
const ROW_H = 22;
const HEADER_H = 22;
const TITLE_H = 46;
const AXIS_H = 26;
const GAP = 28;

export const COLORS = { nkit: '#2f6fd0', nkitLight: '#8db3ea', peer: '#7a7a7a', floor: '#c2c2c2' };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// A "nice" axis end and step above max.
function axis(max: number): { end: number; step: number } {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return { end: Math.ceil(max / step) * step, step };
}

function panel(p: Panel, y0: number): { svg: string[]; height: number } {
  const out: string[] = [];
  const bars = p.rows.filter((r): r is Bar => 'label' in r);
  const max = Math.max(...bars.map((b) => (Number.isFinite(b.s.max) ? b.s.max : b.s.median)).filter(Number.isFinite), 1e-9);
  const { end, step } = axis(max);
  const x0 = LABEL_W;
  const plotW = W - LABEL_W - VALUE_W;
  const X = (v: number): number => x0 + (Math.max(0, v) / end) * plotW;
  out.push(`<text x="12" y="${y0 + 20}" class="title">${esc(p.title)}</text>`);
  out.push(`<text x="12" y="${y0 + 38}" class="sub">${esc(p.subtitle)}</text>`);
  let y = y0 + TITLE_H;
  const top = y;
  const grid: string[] = [];
  for (const r of p.rows) {
    if ('header' in r) {
      out.push(`<text x="12" y="${y + 15}" class="hdr">${esc(r.header)}</text>`);
      y += HEADER_H;
      continue;
    }
    const cy = y + ROW_H / 2;
    out.push(`<text x="${x0 - 8}" y="${cy + 4}" class="lbl" text-anchor="end">${esc(r.label)}</text>`);
    if (Number.isFinite(r.s.median)) {
      out.push(`<rect x="${x0}" y="${y + 3}" width="${(X(r.s.median) - x0).toFixed(1)}" height="${ROW_H - 6}" fill="${r.color}"><title>${esc(`${r.label}: median ${fmtNum(r.s.median)} ${p.unit}, min ${fmtNum(r.s.min)}, max ${fmtNum(r.s.max)}, n=${r.s.n}`)}</title></rect>`);
      if (Number.isFinite(r.s.min) && Number.isFinite(r.s.max) && r.s.max > r.s.min) {
        out.push(`<line x1="${X(r.s.min).toFixed(1)}" x2="${X(r.s.max).toFixed(1)}" y1="${cy}" y2="${cy}" class="wh"/>`);
        for (const v of [r.s.min, r.s.max]) out.push(`<line x1="${X(v).toFixed(1)}" x2="${X(v).toFixed(1)}" y1="${cy - 5}" y2="${cy + 5}" class="wh"/>`);
      }
      const right = Math.max(X(r.s.median), Number.isFinite(r.s.max) ? X(r.s.max) : 0);
      out.push(`<text x="${(right + 6).toFixed(1)}" y="${cy + 4}" class="val">${esc(`${fmtNum(r.s.median)} ${p.unit}${r.note ? ` (${r.note})` : ''}`)}</text>`);
    } else {
      out.push(`<text x="${x0 + 4}" y="${cy + 4}" class="val">n/a</text>`);
    }
    y += ROW_H;
  }
  for (let v = 0; v <= end + 1e-9; v += step) {
    const x = X(v).toFixed(1);
    grid.push(`<line x1="${x}" x2="${x}" y1="${top}" y2="${y}" class="grid"/>`);
    grid.push(`<text x="${x}" y="${y + 16}" class="tick" text-anchor="middle">${esc(fmtNum(v, step < 1 ? 1 : 0))}</text>`);
  }
  grid.push(`<text x="${(x0 + plotW + 16).toFixed(1)}" y="${y + 16}" class="tick">${esc(p.unit)}</text>`);
  // The grid goes under the bars.
  return { svg: [...out.slice(0, 2), ...grid, ...out.slice(2)], height: y - y0 + AXIS_H };
}

export function renderPanels(panels: Panel[], footer: string): string {
  const parts: string[] = [];
  let y = 8;
  for (const p of panels) {
    const r = panel(p, y);
    parts.push(...r.svg);
    y += r.height + GAP;
  }
  parts.push(`<text x="12" y="${y}" class="sub">${esc(footer)}</text>`);
  const h = y + 14;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    '<style>.title{font-size:15px;font-weight:bold}.sub{font-size:11px;fill:#555}.hdr{font-size:12px;font-weight:bold;fill:#333}.lbl{font-size:12px}.val{font-size:11px;fill:#222}.tick{font-size:10px;fill:#666}.grid{stroke:#e4e4e4;stroke-width:1}.wh{stroke:#222;stroke-width:1.2}</style>',
    `<rect width="${W}" height="${h}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

const ms = (xs: Array<{ ms: number }> | undefined): Summary => summarize((xs ?? []).map((x) => x.ms));

// The chart of items 1 (setup/teardown at 0 existing containers) and 3
// (per-packet cost).
export function renderChart(r: RunResults): string {
  const lc = r.lifecycle!;
  const sc = lc.scales[0]!;
  const pk = r.packet!;
  const ratio = (a: Summary, b: Summary): string => `${(a.median / b.median).toFixed(2)}x ptp`;
  const ptpUp = ms(sc.setup.ptp), ptpDown = ms(sc.teardown.ptp);
  const up = (v: string, color: string, vsPtp = true): Bar => {
    const s = ms(sc.setup[v]);
    return { label: (LABELS[v] ?? v).replace(/`/g, ''), s, color, ...(vsPtp && v !== 'ptp' ? { note: ratio(s, ptpUp) } : {}) };
  };
  const down = (v: string, color: string): Bar => {
    const s = ms(sc.teardown[v]);
    return { label: LABELS[v] ?? v, s, color, ...(v !== 'ptp' ? { note: ratio(s, ptpDown) } : {}) };
  };
  const lcPanel: Panel = {
    title: '1. Container network setup and teardown, wall time per call',
    subtitle: `median, whisker min-max of ${sc.setup['nkit-agent']!.length} interleaved rounds, fresh netns each, ${sc.existing} existing containers; same run`,
    unit: 'ms',
    rows: [
      { header: 'setup' },
      up('nkit-agent', COLORS.nkit),
      up('nkit-cold', COLORS.nkitLight),
      up('ptp', COLORS.peer),
      up('netavark', COLORS.peer),
      { header: 'teardown' },
      down('nkit-agent', COLORS.nkit),
      down('nkit-cold', COLORS.nkitLight),
      down('ptp', COLORS.peer),
      down('netavark', COLORS.peer),
      { header: 'floors' },
      up('node', COLORS.floor, false),
      up('agent-noop', COLORS.floor, false),
      up('cold-noop', COLORS.floor, false),
      up('bpf-load', COLORS.floor, false),
    ],
  };
  const empty = summarize(pk.samples.empty ?? []);
  const pkt = (id: string, color: string): Bar => {
    const s = summarize(pk.samples[id] ?? []);
    return { label: LABELS[`packet:${id}`] ?? id, s, color, ...(id !== 'empty' ? { note: `${(s.median / empty.median).toFixed(1)}x empty` } : {}) };
  };
  const pkPanel: Panel = {
    title: "3. nkit's policy program per packet (BPF_PROG_TEST_RUN on this kernel)",
    subtitle: `median, whisker min-max of ${pk.settings.rounds} samples of ${fmtNum(pk.settings.repeat, 0)} runs each, cases interleaved; policy with ${PACKET_RULES} egress rules`,
    unit: 'ns',
    rows: [pkt('empty', COLORS.floor), pkt('allowed', COLORS.nkit), pkt('new-flow', COLORS.nkitLight), pkt('allowed-allow-all', COLORS.nkitLight), pkt('denied', COLORS.nkit), pkt('reply', COLORS.nkit), pkt('spoof', COLORS.nkit)],
  };
  const m = r.machine;
  return renderPanels([lcPanel, pkPanel], `make bench, ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC; ${m.cores} cores (${m.hypervisor}), kernel ${m.kernel}; details in BENCHMARKS.md`);
}
