// The datapath runner: TCP stream, TCP request/response and TCP connections
// per second (bench/tcpbench.c) over loopback, a plain veth pair, nkit on
// veth+tcx with its policy, a plain netkit pair and nkit on netkit with its
// policy. Every variant has a client in a container netns and a server on
// the host side; tests and variants are interleaved (shuffled per repeat)
// and each repeat's ratio to veth is kept, so the spread of the ratios is
// visible. Variants the kernel cannot make (netkit here) are reported as
// such. Under TCG emulation the numbers say nothing about the datapath: the
// result is labelled emulation-bound and no ratio is claimed.
//   node dist/bench/datapath.js [--quick] [--accel tcg|kvm|none]   (as root; prints one JSON line)
// bench/run.ts runs it on this host and, through test/vm/vm-run, in the VM.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { loadConfig } from '../src/config/config';
import { ociHook } from '../src/lifecycle/oci';
import { readStats } from '../src/lifecycle/policy-ops';
import { packageRoot } from '../src/native';
import { innerHostNetns, NETNS_DIR, netnsWithPrefix, reexecInHostNetns, sh } from './sys';
import { shuffle } from './stats';
import { prng } from './workload';

export const DP_VARIANTS = ['loopback', 'veth', 'veth-nkit', 'netkit', 'netkit-nkit'] as const;
export type DpVariant = (typeof DP_VARIANTS)[number];
export const DP_TESTS = ['stream', 'rr', 'crr'] as const;
export type DpTest = (typeof DP_TESTS)[number];

export interface DatapathSettings {
  repeats: number;
  seconds: number;
}

export const DATAPATH_FULL: DatapathSettings = { repeats: 5, seconds: 2 };
export const DATAPATH_QUICK: DatapathSettings = { repeats: 3, seconds: 1 };
/** In the VM under TCG: short, it only has to show the spread. */
export const DATAPATH_VM: DatapathSettings = { repeats: 3, seconds: 1 };

export interface DatapathResults {
  settings: DatapathSettings;
  kernel: string;
  cpu: string;
  cpus: number;
  /** tcg: emulated (timings are not the datapath's); kvm/none: real CPUs. */
  accel: string;
  /** Per variant: per test, the rate of each repeat (Gbit/s, transactions/s, connections/s). */
  rates: Partial<Record<DpVariant, Record<DpTest, number[]>>>;
  /** Variants that could not be made here, and why. */
  unavailable: Partial<Record<DpVariant, string>>;
  /** nkit's datapath as its record says, per nkit variant. */
  nkitDatapath: Partial<Record<DpVariant, string>>;
  /** What nkit's NUMA plan set on its devices (queues, RPS/XPS masks), per nkit variant. */
  nkitNuma: Partial<Record<DpVariant, string>>;
  checks: string[];
  wallSeconds: number;
}

const PORT = 5201;
const PREFIX = `nkd${process.pid}-`;

interface Endpoint {
  /** netns of the client (container side) */
  client: string;
  /** netns of the server; undefined: this process's own (the runner's host netns) */
  server?: string;
  addr: string;
}

const nsArgv = (ns: string | undefined, argv: string[]): string[] => (ns ? ['nsenter', `--net=${NETNS_DIR}/${ns}`, ...argv] : argv);

function addNetns(name: string): void {
  sh(['ip', 'netns', 'add', name]);
  sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

// Can this kernel make a netkit pair? (iproute2 >= 6.7 is needed to ask.)
function netkitSupport(): string | undefined {
  const ns = `${PREFIX}probe`;
  addNetns(ns);
  try {
    sh(['ip', '-n', ns, 'link', 'add', 'nkp0', 'type', 'netkit', 'mode', 'l3', 'peer', 'name', 'nkp1']);
    return undefined;
  } catch (err) {
    return `this kernel cannot make a netkit pair (\`ip link add type netkit\`: ${(err as Error).message.split(': ').pop()!.trim()})`;
  } finally {
    sh(['ip', 'netns', 'del', ns]);
  }
}

// A plain pair between a client and a server netns, /24 on both ends.
function plainPair(kind: 'veth' | 'netkit', net: string): Endpoint {
  const c = `${PREFIX}${kind}-c`, h = `${PREFIX}${kind}-h`;
  addNetns(c);
  addNetns(h);
  if (kind === 'veth') sh(['ip', '-n', h, 'link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c]);
  else sh(['ip', '-n', h, 'link', 'add', 'h0', 'type', 'netkit', 'mode', 'l3', 'forward', 'peer', 'forward', 'name', 'eth0', 'netns', c]);
  sh(['ip', '-n', h, 'addr', 'add', `${net}.1/24`, 'dev', 'h0']);
  sh(['ip', '-n', c, 'addr', 'add', `${net}.2/24`, 'dev', 'eth0']);
  sh(['ip', '-n', h, 'link', 'set', 'h0', 'up']);
  sh(['ip', '-n', c, 'link', 'set', 'eth0', 'up']);
  return { client: c, server: h, addr: `${net}.1` };
}

interface NkitEnv {
  dir: string;
  runDir: string;
  bpffsDir: string;
  configs: Record<'veth' | 'netkit', string>;
}

function nkitEnv(): NkitEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nkb-dp-'));
  const runDir = path.join(dir, 'run');
  const bpffsDir = `/sys/fs/bpf/nkit-bench-dp-${process.pid}`;
  fs.mkdirSync(path.join(dir, 'policies'), { recursive: true });
  // The server's port on the host side, and nothing else; replies pass
  // through the connection table.
  fs.writeFileSync(path.join(dir, 'policies', 'bench.json'), JSON.stringify({ egress: [{ cidr: '10.213.0.1/32', proto: 'tcp', ports: String(PORT) }], ingress: [] }), { mode: 0o600 });
  const configs = { veth: '', netkit: '' };
  for (const dp of ['veth', 'netkit'] as const) {
    configs[dp] = path.join(dir, `config-${dp}.json`);
    fs.writeFileSync(
      configs[dp],
      JSON.stringify({ datapath: dp, runDir, bpffsDir, policiesDir: path.join(dir, 'policies'), networks: { default: { subnets: ['10.213.0.0/24'], mtu: 1500, mode: 'l3' } }, policy: 'bench', logLevel: 'info' }),
      { mode: 0o600 },
    );
  }
  return { dir, runDir, bpffsDir, configs };
}

// A container set up by nkit's own lifecycle (in this process, as the agent
// would do it), the host side in this process's netns.
function nkitPair(env: NkitEnv, dp: 'veth' | 'netkit'): { ep: Endpoint; id: string; bundle: string; datapath: string; numa: string } {
  const c = `${PREFIX}nkit-${dp}-c`;
  addNetns(c);
  const bundle = path.join(env.dir, `bundle-${dp}`);
  fs.mkdirSync(bundle, { recursive: true });
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'network', path: `${NETNS_DIR}/${c}` }] } }));
  const id = `nkb-dp-${dp}`;
  ociHook({ stage: 'createRuntime', stdin: JSON.stringify({ ociVersion: '1.0.2', id, status: 'creating', pid: process.pid, bundle }), configFlag: env.configs[dp], env: {} });
  const rec = JSON.parse(fs.readFileSync(path.join(env.runDir, 'containers', `${id}.json`), 'utf8')) as {
    datapath: string;
    numa?: { queues: number; rps: string | null; xps: string[]; reason: string; applied: boolean };
  };
  const n = rec.numa;
  const numa = n ? `${n.queues} queue(s), RPS ${n.rps ?? 'not set'}, XPS ${n.xps.length ? n.xps.join(',') : 'not set'}${n.applied ? '' : ' (not applied)'}: ${n.reason}` : 'no NUMA record';
  return { ep: { client: c, addr: '10.213.0.1' }, id, bundle, datapath: rec.datapath, numa };
}

function startServer(tcpbench: string, ep: Endpoint, lifetimeS: number): Promise<ChildProcess> {
  const argv = nsArgv(ep.server, [tcpbench, 'server', ep.addr, String(PORT), String(Math.ceil(lifetimeS))]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`tcpbench server (${ep.server ?? 'host'} ${ep.addr}) exited ${code}: ${err}`)));
  });
}

function runClient(tcpbench: string, ep: Endpoint, test: DpTest, seconds: number): number {
  const out = sh(nsArgv(ep.client, [tcpbench, test, ep.addr, String(PORT), String(seconds)]), { timeoutMs: (seconds * 3 + 30) * 1000 });
  const [ops, secs] = out.trim().split(' ').map(Number) as [number, number];
  if (!(ops > 0 && secs > 0)) throw new Error(`tcpbench ${test} over ${ep.client}: no traffic (${out.trim()})`);
  return test === 'stream' ? (ops * 8) / secs / 1e9 : ops / secs;
}

// How this machine runs code: tcg (emulated: timings are the emulator's), or on real CPUs.
export function detectAccel(): string {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  if (/QEMU TCG/.test(cpuinfo)) return 'tcg';
  return cpuinfo.includes(' hypervisor') ? 'hypervisor (hardware-assisted)' : 'none (bare metal)';
}

// Runs every test over every variant this kernel can make, interleaved; cleans up, also on failure.
export async function runDatapath(s: DatapathSettings, accel: string, log: (s: string) => void): Promise<DatapathResults> {
  const t0 = Date.now();
  const tcpbench = path.join(packageRoot(), '.cache', 'bench', 'tcpbench');
  if (!fs.existsSync(tcpbench)) throw new Error(`${tcpbench} is missing: run \`make bench\`, which builds it`);
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const res: DatapathResults = {
    settings: s,
    kernel: os.release(),
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '?',
    cpus: os.cpus().length,
    accel,
    rates: {},
    unavailable: {},
    nkitDatapath: {},
    nkitNuma: {},
    checks: [],
    wallSeconds: 0,
  };
  const env = nkitEnv();
  const servers: ChildProcess[] = [];
  const nkit: Array<{ id: string; bundle: string; config: string }> = [];
  try {
    const noNetkit = netkitSupport();
    const eps: Partial<Record<DpVariant, Endpoint>> = {};
    const lo = `${PREFIX}lo`;
    addNetns(lo);
    eps.loopback = { client: lo, server: lo, addr: '127.0.0.1' };
    eps.veth = plainPair('veth', '10.77.0');
    const v = nkitPair(env, 'veth');
    nkit.push({ id: v.id, bundle: v.bundle, config: env.configs.veth });
    eps['veth-nkit'] = v.ep;
    res.nkitDatapath['veth-nkit'] = v.datapath;
    res.nkitNuma['veth-nkit'] = v.numa;
    if (noNetkit) {
      res.unavailable.netkit = noNetkit;
      res.unavailable['netkit-nkit'] = noNetkit;
    } else {
      eps.netkit = plainPair('netkit', '10.78.0');
      const k = nkitPair(env, 'netkit');
      nkit.push({ id: k.id, bundle: k.bundle, config: env.configs.netkit });
      eps['netkit-nkit'] = k.ep;
      res.nkitDatapath['netkit-nkit'] = k.datapath;
      res.nkitNuma['netkit-nkit'] = k.numa;
    }
    const variants = DP_VARIANTS.filter((x) => eps[x]);
    // Long enough for every run, with room for a slow (emulated) machine;
    // the servers stop by themselves after it and are killed before.
    const lifetime = s.repeats * DP_TESTS.length * variants.length * (s.seconds * 1.1 + 5) * 3 + 120;
    // The nkit variants share one server on the host side (this netns).
    const started = new Map<string, boolean>();
    for (const x of variants) {
      const ep = eps[x]!;
      const key = `${ep.server ?? ''}/${ep.addr}`;
      if (started.has(key)) continue;
      started.set(key, true);
      servers.push(await startServer(tcpbench, ep, lifetime));
    }
    for (const x of variants) res.rates[x] = { stream: [], rr: [], crr: [] };
    const rnd = prng(11);
    for (let r = 0; r < s.repeats; r++) {
      for (const test of DP_TESTS) {
        for (const x of shuffle([...variants], rnd)) res.rates[x]![test].push(runClient(tcpbench, eps[x]!, test, s.seconds));
      }
      log(`  datapath repeat ${r + 1}/${s.repeats}`);
    }
    // The policy saw the traffic: its pass counters moved, nothing was dropped.
    for (const n of nkit) {
      const st = readStats(loadConfig(n.config), n.id);
      const drops = Object.entries({ ...st.egress, ...st.ingress }).filter(([k, c]) => k.startsWith('drop') && c.packets > 0);
      const line = `nkit ${n.id} (policy "bench": egress tcp ${PORT} to the host side only): egress pass ${st.egress.pass?.packets ?? 0} packets, ingress pass_reply ${st.ingress.pass_reply?.packets ?? 0}`;
      if (!(st.egress.pass!.packets > 0 && st.ingress.pass_reply!.packets > 0)) throw new Error(`${line}: the policy program did not see the traffic`);
      res.checks.push(`${line}, drops ${drops.length ? drops.map(([k, c]) => `${k} ${c.packets}`).join(', ') : 'none'}`);
    }
    return res;
  } finally {
    for (const c of servers) if (c.exitCode === null) c.kill('SIGKILL');
    for (const n of nkit) {
      try {
        ociHook({ stage: 'poststop', stdin: JSON.stringify({ ociVersion: '1.0.2', id: n.id, status: 'stopped', pid: process.pid, bundle: n.bundle }), configFlag: n.config, env: {} });
      } catch (err) {
        log(`datapath: teardown of ${n.id} failed: ${(err as Error).message}`);
      }
    }
    for (const ns of netnsWithPrefix(PREFIX)) sh(['ip', 'netns', 'del', ns]);
    fs.rmSync(env.dir, { recursive: true, force: true });
    fs.rmSync(env.bpffsDir, { recursive: true, force: true });
    res.wallSeconds = (Date.now() - t0) / 1000;
  }
}

export const RESULT_MARK = 'NKBENCH-DATAPATH ';

// Standalone (in the VM): runs inside its own host netns, prints one line
// RESULT_MARK + JSON on stdout.
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const host = innerHostNetns(argv);
  if (!host) {
    if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates network namespaces');
    process.exitCode = reexecInHostNetns(`nkd${process.pid}o-`, __filename, argv);
    return;
  }
  const accelArg = argv.indexOf('--accel');
  const accel = accelArg >= 0 ? argv[accelArg + 1]! : detectAccel();
  const s = argv.includes('--vm') ? DATAPATH_VM : argv.includes('--quick') ? DATAPATH_QUICK : DATAPATH_FULL;
  const res = await runDatapath(s, accel, (l) => process.stderr.write(`${l}\n`));
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(res)}\n`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`datapath: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
