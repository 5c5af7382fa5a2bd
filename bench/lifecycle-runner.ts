// The lifecycle benchmark's moving parts: the variants and what one
// iteration of each runs and times, the agent, the existing containers,
// and the strace profiles (bench/lifecycle.ts drives them).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addContainer, clearSlot, closePolicyObject, loadPolicyObject, type PolicyObject } from '../src/bpf/program';
import { closeMaps } from '../src/policy/maps';
import { packageRoot } from '../src/native';
import { sumStrace } from './strace';
import { netnsBatch, NETNS_DIR, pool, sh, shAsync, timed, type Sample } from './sys';

export const CNI_DIR = '/usr/lib/cni';
export const NETAVARK_PATHS = ['/usr/lib/podman/netavark', '/usr/libexec/podman/netavark'];
export const NODE = '/usr/bin/node';

export const VARIANTS = ['nkit-agent', 'nkit-cold', 'ptp', 'netavark', 'node', 'agent-noop', 'cold-noop', 'bpf-load'] as const;
export type VariantId = (typeof VARIANTS)[number];
/** Variants with a teardown (the others measure one step, kept as "setup"). */
export const WITH_TEARDOWN: readonly VariantId[] = ['nkit-agent', 'nkit-cold', 'ptp', 'netavark'];

/** Syscall time per request, from strace -T. */
export interface SyscallProfile {
  iterations: number;
  /** Wall time of the traced requests as the client saw them (strace slows them down). */
  setupMs: number;
  teardownMs: number;
  /** Per request kind: syscall group -> total ms and calls per request. */
  setup: Record<string, { ms: number; calls: number }>;
  teardown: Record<string, { ms: number; calls: number }>;
}

/** Everything an iteration needs: tools, the run's private nkit config and dirs, the peers' configs. */
export interface Ctx {
  timeit: string;
  prefix: string;
  dir: string;
  configPath: string;
  runDir: string;
  bpffsDir: string;
  netavark: string;
  ptpConf: string;
  netavarkConf: (id: string) => string;
  env: NodeJS.ProcessEnv;
  hook: string;
  populateConcurrency: number;
}

/** The OCI state a runtime sends the hook. */
export const STATE = (id: string, bundle: string, status: 'creating' | 'stopped'): string =>
  JSON.stringify({ ociVersion: '1.0.2', id, status, pid: process.pid, bundle });

/** A bundle whose config.json names netns `name` (as a runtime passes a pre-made netns). */
export function writeBundle(ctx: Ctx, name: string): string {
  const bundle = path.join(ctx.dir, 'bundles', name);
  fs.mkdirSync(bundle, { recursive: true });
  fs.writeFileSync(
    path.join(bundle, 'config.json'),
    JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: `${NETNS_DIR}/${name}` }] } }),
  );
  return bundle;
}

// One iteration's container: a fresh netns and a bundle naming it.
interface Box {
  ns: string;
  nsPath: string;
  id: string;
  bundle: string;
}

// Does the container netns have eth0 with an IPv4 address (after setup), or
// no eth0 at all (after teardown)?
function checkEth0(box: Box, want: 'configured' | 'gone'): string | undefined {
  let addrs: Array<{ ifname: string; addr_info: Array<{ family: string }> }> = [];
  try {
    addrs = JSON.parse(sh(['ip', '-n', box.ns, '-j', 'addr', 'show'])) as typeof addrs;
  } catch (err) {
    return (err as Error).message;
  }
  const eth0 = addrs.find((a) => a.ifname === 'eth0');
  if (want === 'configured' && !eth0?.addr_info.some((a) => a.family === 'inet')) return `${box.id}: no eth0 with an IPv4 address in ${box.ns}`;
  if (want === 'gone' && eth0) return `${box.id}: eth0 still in ${box.ns} after teardown`;
  return undefined;
}

/** Runs and times the variants, and owns the agent and the existing containers. */
export class Runner {
  private agent: ChildProcess | undefined;
  private agentErr = '';
  private seq = 0;
  private existing: Box[] = [];
  private bpfRing: PolicyObject | undefined;
  readonly checks = new Map<string, number>();
  readonly failures: string[] = [];

  constructor(readonly ctx: Ctx) {}

  private check(what: string, problem: string | undefined): void {
    if (problem) this.failures.push(problem);
    else this.checks.set(what, (this.checks.get(what) ?? 0) + 1);
  }

  async startAgent(): Promise<void> {
    const c = this.ctx;
    this.agent = spawn(path.join(packageRoot(), 'bin', 'nkit'), ['--config', c.configPath, 'agent'], { stdio: ['ignore', 'ignore', 'pipe'], env: c.env });
    this.agent.stderr!.on('data', (d: Buffer) => (this.agentErr += d.toString()));
    const sock = path.join(c.runDir, 'nkitd.sock');
    for (let i = 0; i < 400 && !fs.existsSync(sock); i++) {
      if (this.agent.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!fs.existsSync(sock)) throw new Error(`nkit agent did not start: ${this.agentErr}`);
  }

  async stopAgent(): Promise<void> {
    const a = this.agent;
    if (!a || a.exitCode !== null) return;
    const gone = new Promise((r) => a.once('exit', r));
    a.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (a.exitCode === null) a.kill('SIGKILL');
  }

  agentRss(): { vmRssKb: number; vmHwmKb: number } {
    const st = fs.readFileSync(`/proc/${this.agent!.pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(st)?.[1] ?? NaN);
    return { vmRssKb: kb('VmRSS'), vmHwmKb: kb('VmHWM') };
  }

  private newBox(kind: string): Box {
    const n = ++this.seq;
    const ns = `${this.ctx.prefix}${kind}${n}`;
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    return { ns, nsPath: `${NETNS_DIR}/${ns}`, id: `nkb-${kind}-${n}`, bundle: writeBundle(this.ctx, ns) };
  }

  private dropBox(box: Box): void {
    sh(['ip', 'netns', 'del', box.ns]);
    fs.rmSync(box.bundle, { recursive: true, force: true });
  }

  private hookArgv(stage: string): string[] {
    return [this.ctx.hook, '--config', this.ctx.configPath, stage];
  }

  /** Wall-clock windows (epoch ms) of the last nkit-agent iteration's setup and teardown. */
  lastWindows: { setup: [number, number]; teardown: [number, number] } = { setup: [0, 0], teardown: [0, 0] };

  // One iteration of a variant: [setup, teardown?] samples.
  iterate(v: VariantId): [Sample, Sample?] {
    const c = this.ctx;
    const cold = { ...c.env, NKIT_NO_AGENT: '1' };
    switch (v) {
      case 'node':
        return [timed(c.timeit, [NODE, '-e', '0'], { env: c.env })];
      case 'agent-noop':
      case 'cold-noop': {
        const input = STATE('nkb-noop', path.join(c.dir, 'bundles'), 'creating');
        return [timed(c.timeit, this.hookArgv('createContainer'), { input, env: v === 'cold-noop' ? cold : c.env })];
      }
      case 'bpf-load': {
        // The BPF part of a setup: the container's maps created and put
        // into its slot (the programs are loaded once per host).
        const t0 = process.hrtime.bigint();
        const maps = addContainer(this.bpfRing!, 0);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        clearSlot(this.bpfRing!.slots, 0);
        closeMaps(maps);
        return [{ ms, rssKb: NaN, userMs: NaN, sysMs: NaN }];
      }
      default:
        break;
    }
    const box = this.newBox(v === 'nkit-agent' ? 'a' : v === 'nkit-cold' ? 'c' : v === 'ptp' ? 'p' : 'n');
    try {
      let up: Sample, down: Sample;
      if (v === 'nkit-agent' || v === 'nkit-cold') {
        const env = v === 'nkit-cold' ? cold : c.env;
        const t0 = Date.now();
        up = timed(c.timeit, this.hookArgv('createRuntime'), { input: STATE(box.id, box.bundle, 'creating'), env });
        this.lastWindows.setup = [t0, Date.now()];
        this.check(`${v} setup`, checkEth0(box, 'configured'));
        const t1 = Date.now();
        down = timed(c.timeit, this.hookArgv('poststop'), { input: STATE(box.id, box.bundle, 'stopped'), env });
        this.lastWindows.teardown = [t1, Date.now()];
      } else if (v === 'ptp') {
        const cni = (cmd: string): NodeJS.ProcessEnv => ({ ...c.env, CNI_COMMAND: cmd, CNI_CONTAINERID: box.id, CNI_NETNS: box.nsPath, CNI_IFNAME: 'eth0', CNI_PATH: CNI_DIR });
        up = timed(c.timeit, [path.join(CNI_DIR, 'ptp')], { input: c.ptpConf, env: cni('ADD') });
        this.check('ptp ADD', checkEth0(box, 'configured'));
        down = timed(c.timeit, [path.join(CNI_DIR, 'ptp')], { input: c.ptpConf, env: cni('DEL') });
      } else {
        const conf = c.netavarkConf(box.id);
        up = timed(c.timeit, [c.netavark, '--config', path.join(c.dir, 'netavark'), 'setup', box.nsPath], { input: conf, env: c.env });
        this.check('netavark setup', checkEth0(box, 'configured'));
        down = timed(c.timeit, [c.netavark, '--config', path.join(c.dir, 'netavark'), 'teardown', box.nsPath], { input: conf, env: c.env });
      }
      this.check(`${v} teardown`, checkEth0(box, 'gone'));
      return [up, down];
    } finally {
      this.dropBox(box);
    }
  }

  // Existing containers up to n, made through the agent (untimed except in total).
  async populate(n: number): Promise<{ seconds: number; made: number }> {
    const want = n - this.existing.length;
    if (want <= 0) return { seconds: 0, made: 0 };
    const t0 = Date.now();
    const names = Array.from({ length: want }, (_, i) => `${this.ctx.prefix}e${this.existing.length + i}`);
    netnsBatch('add', names);
    const boxes = names.map((ns) => ({ ns, nsPath: `${NETNS_DIR}/${ns}`, id: `nkb-existing-${ns.slice(this.ctx.prefix.length)}`, bundle: writeBundle(this.ctx, ns) }));
    await pool(boxes, this.ctx.populateConcurrency, async (b) => {
      await shAsync(this.hookArgv('createRuntime'), { input: STATE(b.id, b.bundle, 'creating'), env: this.ctx.env });
      this.existing.push(b);
    });
    return { seconds: (Date.now() - t0) / 1000, made: want };
  }

  /** Tears down existing containers (the newest first) until `keep` are left. */
  async removeExisting(keep = 0): Promise<number> {
    const t0 = Date.now();
    const all = this.existing.splice(keep);
    await pool(all, this.ctx.populateConcurrency, (b) => shAsync(this.hookArgv('poststop'), { input: STATE(b.id, b.bundle, 'stopped'), env: this.ctx.env }));
    netnsBatch('del', all.map((b) => b.ns));
    return (Date.now() - t0) / 1000;
  }

  // Traces the agent's main thread (strace -T, syscall durations) over a
  // few agent setups and teardowns and sums the time per syscall group.
  async profileAgent(iterations: number): Promise<SyscallProfile | undefined> {
    const out = path.join(this.ctx.dir, 'strace.txt');
    const st = spawn('strace', ['-p', String(this.agentPid()), '-ttt', '-T', '-s', '16', '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    st.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const traced = (): boolean => /^TracerPid:\s+[1-9]/m.test(fs.readFileSync(`/proc/${this.agentPid()}/status`, 'utf8'));
    for (let i = 0; i < 100 && !traced() && st.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    if (!traced()) {
      st.kill('SIGKILL');
      this.failures.push(`strace could not attach to the agent: ${err.trim()}`);
      return undefined;
    }
    const windows: Array<{ kind: 'setup' | 'teardown'; from: number; to: number }> = [];
    const ms = { setup: 0, teardown: 0 };
    for (let i = 0; i < iterations; i++) {
      const [up, down] = this.iterate('nkit-agent');
      ms.setup += up.ms / iterations;
      ms.teardown += down!.ms / iterations;
      windows.push({ kind: 'setup', from: this.lastWindows.setup[0], to: this.lastWindows.setup[1] });
      windows.push({ kind: 'teardown', from: this.lastWindows.teardown[0], to: this.lastWindows.teardown[1] });
    }
    await new Promise((r) => setTimeout(r, 200));
    const gone = new Promise((r) => st.once('exit', r));
    st.kill('SIGINT');
    await gone;
    const text = fs.readFileSync(out, 'utf8');
    const kindAt = (t: number): 'setup' | 'teardown' | undefined => windows.find((x) => t >= x.from && t <= x.to)?.kind;
    const groups = { setup: sumStrace(text, (t) => kindAt(t) === 'setup', iterations), teardown: sumStrace(text, (t) => kindAt(t) === 'teardown', iterations) };
    fs.rmSync(out, { force: true });
    return { iterations, setupMs: ms.setup, teardownMs: ms.teardown, ...groups };
  }

  // The same for the ptp plugin: each ADD and DEL run under strace -f.
  profilePtp(iterations: number): SyscallProfile {
    const c = this.ctx;
    const out = path.join(c.dir, 'strace-ptp.txt');
    const prof: SyscallProfile = { iterations, setupMs: 0, teardownMs: 0, setup: {}, teardown: {} };
    const texts = { setup: '', teardown: '' };
    for (let i = 0; i < iterations; i++) {
      const box = this.newBox('p');
      try {
        for (const [kind, cmd] of [['setup', 'ADD'], ['teardown', 'DEL']] as const) {
          const env = { ...c.env, CNI_COMMAND: cmd, CNI_CONTAINERID: box.id, CNI_NETNS: box.nsPath, CNI_IFNAME: 'eth0', CNI_PATH: CNI_DIR };
          const smp = timed(c.timeit, ['strace', '-f', '-ttt', '-T', '-s', '16', '-o', out, path.join(CNI_DIR, 'ptp')], { input: c.ptpConf, env });
          prof[kind === 'setup' ? 'setupMs' : 'teardownMs'] += smp.ms / iterations;
          texts[kind] += fs.readFileSync(out, 'utf8');
        }
      } finally {
        this.dropBox(box);
      }
    }
    fs.rmSync(out, { force: true });
    prof.setup = sumStrace(texts.setup, () => true, iterations);
    prof.teardown = sumStrace(texts.teardown, () => true, iterations);
    return prof;
  }

  openRing(): void {
    this.bpfRing = loadPolicyObject();
  }

  closeRing(): void {
    if (this.bpfRing) closePolicyObject(this.bpfRing);
    this.bpfRing = undefined;
  }

  agentPid(): number {
    return this.agent!.pid!;
  }

  existingCount(): number {
    return this.existing.length;
  }
}

// The agent's "setup done" log lines: id -> ms of its apply step.
export function agentApplyMs(runDir: string): Map<string, number> {
  const out = new Map<string, number>();
  let text = '';
  try {
    text = fs.readFileSync(path.join(runDir, 'nkit.log'), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.includes('"setup done"')) continue;
    try {
      const j = JSON.parse(line) as { id?: string; ms?: number; msg?: string; pid?: number };
      if (j.msg === 'setup done' && j.id && typeof j.ms === 'number') out.set(`${j.pid}/${j.id}`, j.ms);
    } catch {
      // a line being written
    }
  }
  return out;
}
