// The bench runner for container setup/teardown, nkit's per-packet cost
// and the datapath (bench/policy-cost.ts is the other half of `make bench`):
//   1-2. bench/lifecycle.ts  nkit's hook (agent and cold) vs CNI ptp vs
//        netavark, at 0, 100 and 1,000 existing containers
//   3.   bench/packet-cost.ts nkit's program vs an empty one (BPF_PROG_TEST_RUN)
//   4.   bench/datapath.ts    TCP stream / RR / CRR over loopback, veth, nkit
//        on veth+tcx, netkit and nkit on netkit, here and in the VM
//   5.   bench/chart.ts       bench/chart.svg of 1 and 3
// and writes its part of BENCHMARKS.md (between markers; the rest is kept),
// the chart and every sample in .cache/bench/run.json.
//   node dist/bench/run.js [--quick] [--no-vm] [--only lifecycle,packet,datapath,vm]
//                          [--scales 0,100,1000] [--rounds N]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../src/native';
import { renderChart } from './chart';
import { DATAPATH_FULL, DATAPATH_QUICK, detectAccel, RESULT_MARK, runDatapath, type DatapathResults } from './datapath';
import { LIFECYCLE_FULL, LIFECYCLE_QUICK, runLifecycle, type LifecycleResults } from './lifecycle';
import { PACKET_FULL, PACKET_QUICK, runPacketCost, type PacketResults } from './packet-cost';
import { machineInfo, type Machine } from './report';
import { renderRunReport, spliceSection } from './run-report';
import { innerHostNetns, netnsWithPrefix, reexecInHostNetns } from './sys';

export const PARTS = ['lifecycle', 'packet', 'datapath', 'vm'] as const;
export type Part = (typeof PARTS)[number];

export interface RunResults {
  quick: boolean;
  machine: Machine;
  startedAt: string;
  wallSeconds: number;
  loadAvg: { start: number[]; end: number[] };
  commit: string;
  lifecycle?: LifecycleResults;
  packet?: PacketResults;
  datapath?: DatapathResults;
  /** The VM run, or why there is none. */
  vm?: DatapathResults | { skipped: string };
  vmKernel?: string;
}

interface InnerResults {
  lifecycle?: LifecycleResults;
  datapath?: DatapathResults;
}

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};
const loadAvg = (): number[] => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function partsOf(argv: string[]): Set<Part> {
  const only = arg(argv, '--only');
  const parts = new Set<Part>(only ? (only.split(',') as Part[]) : PARTS);
  for (const p of parts) if (!PARTS.includes(p)) throw new Error(`--only: unknown part ${p} (${PARTS.join(', ')})`);
  if (argv.includes('--no-vm')) parts.delete('vm');
  return parts;
}

// The part that needs the benchmark's host netns: lifecycle and datapath.
async function inner(argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const parts = partsOf(argv);
  const out: InnerResults = {};
  const root = packageRoot();
  if (parts.has('lifecycle')) {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nkb-lc-'));
    try {
      const settings = { ...(quick ? LIFECYCLE_QUICK : LIFECYCLE_FULL) };
      // For trying changes: --scales 0,10 --rounds 3
      const scales = arg(argv, '--scales'), rounds = arg(argv, '--rounds');
      if (scales) settings.scales = scales.split(',').map(Number);
      if (rounds) settings.passRounds = Number(rounds);
      out.lifecycle = await runLifecycle({
        settings,
        timeit: path.join(root, '.cache', 'bench', 'timeit'),
        prefix: `nkb${process.pid}-`,
        workDir,
        log,
      });
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  }
  if (parts.has('datapath')) {
    log('datapath: this host');
    out.datapath = await runDatapath(quick ? DATAPATH_QUICK : DATAPATH_FULL, detectAccel(), log);
  }
  fs.writeFileSync(arg(argv, '--inner-out')!, JSON.stringify(out));
}

// The datapath runner in the VM (netkit kernel), short: under TCG it can
// only show the spread.
function vmPart(root: string): { res?: DatapathResults; skipped?: string; kernel?: string } {
  const vmRun = path.join(root, 'test', 'vm', 'vm-run');
  if (!fs.existsSync(path.join(root, 'dist', 'test', 'vm', 'vm-run.js'))) return { skipped: 'dist/test/vm/vm-run.js is missing (make build)' };
  if (!fs.existsSync(path.join(root, '.cache', 'vm', 'trixie'))) return { skipped: 'the VM kernels are missing (make vm-kernels)' };
  log('datapath: in the VM (test/vm/vm-run --kernel trixie), short');
  // Another build of the program (NKIT_BPF_OBJECT, as bench/policy-cost.ts honours) goes along.
  const objEnv = process.env.NKIT_BPF_OBJECT ? ['--env', `NKIT_BPF_OBJECT=${process.env.NKIT_BPF_OBJECT}`] : [];
  const r = spawnSync(vmRun, ['--kernel', 'trixie', '--timeout', '900', ...objEnv, '--', process.execPath, path.join(root, 'dist', 'bench', 'datapath.js'), '--vm'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 1_000_000,
    cwd: root,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
  const boot = /vm-run: booting (.*)/.exec(r.stderr)?.[1];
  if (r.status !== 0 || !line) {
    // The runner's own error line, and the verifier's verdict when a program was refused.
    const lines = r.stderr.split('\n');
    const why = [lines.find((l) => l.startsWith('datapath: ')), lines.find((l) => /BPF program load failed|^R\d+ |invalid|unbounded|not allowed/.test(l) && !l.includes('; '))].filter(Boolean);
    return { skipped: `vm-run failed (exit ${r.status ?? r.signal}): ${why.length ? why.join(' | ') : lines.filter((l) => l.trim()).slice(-3).join(' | ')}` };
  }
  return { res: JSON.parse(line.slice(RESULT_MARK.length)) as DatapathResults, ...(boot ? { kernel: boot } : {}) };
}

function checkout(root: string): string {
  const git = (args: string[]): string => spawnSync('git', ['-C', root, ...args], { encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  const dirty = git(['status', '--porcelain', '--', 'src', 'bpf', 'hooks', 'native']);
  return dirty ? `${head} with uncommitted changes in src/, bpf/, hooks/ or native/` : head;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (innerHostNetns(argv)) return inner(argv);

  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates network namespaces and loads BPF programs');
  const root = packageRoot();
  const quick = argv.includes('--quick');
  const parts = partsOf(argv);
  for (const f of ['timeit', 'tcpbench', 'empty.bpf.o']) {
    if (!fs.existsSync(path.join(root, '.cache', 'bench', f))) throw new Error(`.cache/bench/${f} is missing: run \`make bench\`, which builds it`);
  }
  const t0 = Date.now();
  const res: RunResults = {
    quick,
    machine: machineInfo(),
    startedAt: new Date(t0).toISOString(),
    wallSeconds: 0,
    loadAvg: { start: loadAvg(), end: [] },
    commit: checkout(root),
  };
  if (parts.has('lifecycle') || parts.has('datapath')) {
    const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nkb-run-')), 'inner.json');
    const prefix = `nkb${process.pid}-`;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        for (const ns of netnsWithPrefix(prefix)) spawnSync('ip', ['netns', 'del', ns]);
        process.exit(130);
      });
    }
    let out: InnerResults;
    try {
      const code = reexecInHostNetns(prefix, __filename, [...argv, '--inner-out', tmp]);
      if (code !== 0) throw new Error(`the benchmark's inner run failed (exit ${code}); see above`);
      out = JSON.parse(fs.readFileSync(tmp, 'utf8')) as InnerResults;
    } finally {
      fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
    }
    if (out.lifecycle) res.lifecycle = out.lifecycle;
    if (out.datapath) res.datapath = out.datapath;
  }
  if (parts.has('packet')) {
    log('packet cost: BPF_PROG_TEST_RUN');
    res.packet = runPacketCost(quick ? PACKET_QUICK : PACKET_FULL, path.join(root, '.cache', 'bench', 'empty.bpf.o'), log);
  }
  if (parts.has('vm')) {
    const v = vmPart(root);
    res.vm = v.res ?? { skipped: v.skipped! };
    if (v.kernel) res.vmKernel = v.kernel;
  } else {
    res.vm = { skipped: 'not run (--no-vm, or BENCH_VM=0 with make bench)' };
  }
  res.loadAvg.end = loadAvg();
  res.wallSeconds = (Date.now() - t0) / 1000;

  const jsonOut = path.join(root, '.cache', 'bench', 'run.json');
  fs.writeFileSync(jsonOut, `${JSON.stringify(res, null, 1)}\n`);
  const chart = path.join(root, 'bench', 'chart.svg');
  if (res.lifecycle && res.packet) fs.writeFileSync(chart, renderChart(res));
  const md = path.join(root, 'BENCHMARKS.md');
  const before = fs.existsSync(md) ? fs.readFileSync(md, 'utf8') : '# Benchmarks\n';
  fs.writeFileSync(md, spliceSection(before, renderRunReport(res, { jsonOut: path.relative(root, jsonOut), chart: path.relative(root, chart) })));
  log(`run: wrote BENCHMARKS.md, ${path.relative(root, chart)} and ${path.relative(root, jsonOut)} (${Math.round(res.wallSeconds)} s)`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`bench/run: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
