// The hook fuzzer: runs ociHook in-process on generated cases (see gen.ts)
// and checks after every case that it ended with a clean error (NkitError)
// or a correct result, within a time bound, leaving nothing behind.
//
// It does real kernel work in its own network namespace, so it must only run
// the way test/fuzz/hook.fuzz.root.test.ts starts it: inside a test "host"
// netns and a private mount namespace (test/lib/netns.ts hostMountsArgv),
// with a private runDir/bpffsDir. Usage: node runner.js OPTIONS.json
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { loadHookConfig, ociHook } from '../../src/lifecycle/oci';
import { NkitError } from '../../src/errors';
import { hookFailureLine } from '../../src/cli/report';
import { readRecord } from '../../src/lifecycle/record';
import { getLink, listLinks, deleteLink } from '../../src/netlink/ops';
import { withNetlink } from '../../src/netlink/socket';
import { removePins } from '../../src/bpf/program';
import { SHARED_PREFIX } from '../../src/bpf/shared';
import { makeSysfs } from '../fixtures/sysfs/tree';
import { BASE_CONFIG, CONTAINERS, POLICY_NAMES, SETUP_STAGES, cases, type FileAttrs, type HookCase } from './gen';

export interface RunnerOptions {
  /** runDir, bpffsDir and policiesDir of the test's nkit environment. */
  runDir: string;
  bpffsDir: string;
  policiesDir: string;
  /** Container netns paths (CONTAINERS of them). */
  netns: string[];
  /** A private scratch directory (bundles, configs, cwd). */
  work: string;
  /** Where the summary JSON goes. */
  out: string;
  /** Where the case in progress is written before it runs (for hangs). */
  progress: string;
  seed: number;
  runs: Partial<Record<keyof typeof cases, number>>;
  /** Upper bound for one hook run. */
  caseTimeoutMs: number;
  /** Time budget per property, shrinking included. */
  propertyTimeMs: number;
}

export interface PropertySummary {
  name: string;
  target: number;
  runs: number;
  ms: number;
  failed: boolean;
  interrupted: boolean;
  /** Successful setups (each torn down again in the same case). */
  setups: number;
  /** Errors by NkitError code. */
  errors: Record<string, number>;
  seed: number;
  path?: string;
  counterexample?: string;
  error?: string;
  shrinks?: number;
}

/** What the watchdog writes instead of a summary when a case hangs. */
export interface RunnerHang {
  hang: { seconds: number; case: string };
}

export interface RunnerSummary {
  properties: PropertySummary[];
  totalRuns: number;
  ms: number;
  slowestMs: number;
  /** Known problems that do not fail the property (reported as todo). */
  findings: {
    /** fds open on log files at the end (src/log.ts caches one logger per file and level). */
    logFds: number;
    /** Failure lines an operator would see spanning more than one line. */
    multiLineErrors: number;
    multiLineExample?: string;
    /** Known bugs hit, by name. */
    knownBugs: Record<string, { what: string; count: number; example: string }>;
  };
}

/** Bugs already reported: counted and shown as todo instead of failing the property. */
export interface KnownBug {
  name: string;
  what: string;
  matches(err: unknown, state: Record<string, unknown> | undefined): boolean;
}

// Problems the fuzzer found that are not fixed yet (none now: dotted ids and
// multi-line errors were fixed after it found them).
export const KNOWN_BUGS: KnownBug[] = [];

class Violation extends Error {
  override name = 'Violation';
}

const short = (v: unknown, max = 160): string => {
  const s = typeof v === 'string' ? v : JSON.stringify(v, (_k, x) => (typeof x === 'string' && x.length > max ? `${x.slice(0, max)}...(${x.length} chars)` : x)) ?? String(v);
  return s.length > 4 * max ? `${s.slice(0, 4 * max)}...` : s;
};

export class HookFuzzer {
  private readonly o: RunnerOptions;
  private readonly paths: Record<string, string>;
  private readonly nsFds: number[];
  private readonly nsInodes: Set<number>;
  private readonly nsInoList: number[];
  private readonly sleepers: ChildProcess[] = [];
  private readonly pidMax: number;
  private readonly runDirs: string[];
  private readonly baseConfig: string;
  private readonly caseConfig: string;
  private readonly bundleDir: string;
  readonly findings: RunnerSummary['findings'] = { logFds: 0, multiLineErrors: 0, knownBugs: {} };
  slowestMs = 0;
  private stats = { setups: 0, errors: {} as Record<string, number> };

  constructor(o: RunnerOptions) {
    this.o = o;
    const w = (p: string): string => path.join(o.work, p);
    for (const d of ['cwd', 'adir', 'notbpf', 'run2', 'log', 'bundle']) fs.mkdirSync(w(d), { recursive: true });
    fs.writeFileSync(w('regular-file'), 'not a namespace\n');
    fs.mkdirSync(o.policiesDir, { recursive: true });
    const sysfs = makeSysfs({ possible: '0-1', online: '0-1', nodes: { 0: '0', 1: '1' }, nics: { lo: null } });
    this.paths = {
      '@RUNDIR': o.runDir,
      '@RUNDIR2': w('run2'),
      '@BPFFS': o.bpffsDir,
      '@NOTBPF': w('notbpf'),
      '@POLICIES': o.policiesDir,
      '@LOGFILE': w('log/nkit-alt.log'),
      '@FAKESYSFS': sysfs.root,
      '@NOWHERE': w('nowhere/x'),
      '@REGFILE': w('regular-file'),
      '@DIR': w('adir'),
      '@DEVNULL': '/dev/null',
      '@OWNNS': '/proc/self/ns/net',
      '@MNTNS': '/proc/self/ns/mnt',
      '@BUNDLE': w('bundle'),
    };
    o.netns.forEach((p, i) => (this.paths[`@NETNS${i}`] = p));
    this.runDirs = [o.runDir, w('run2')];
    this.nsFds = o.netns.map((p) => fs.openSync(p, 'r'));
    this.nsInoList = o.netns.map((p) => fs.statSync(p).ino);
    this.nsInodes = new Set(this.nsInoList);
    this.pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    this.baseConfig = w('base-config.json');
    this.caseConfig = w('case-config.json');
    this.bundleDir = w('bundle');
    fs.writeFileSync(this.baseConfig, JSON.stringify(this.resolve(BASE_CONFIG)), { mode: 0o600 });
    process.chdir(w('cwd'));
  }

  // One process per container netns, for states that name the netns by pid.
  async startSleepers(): Promise<void> {
    for (const p of this.o.netns) {
      const c = spawn('nsenter', [`--net=${p}`, 'sleep', '100000'], { stdio: 'ignore' });
      this.sleepers.push(c);
      const want = fs.statSync(p).ino;
      for (let i = 0; ; i++) {
        try {
          if (fs.statSync(`/proc/${c.pid}/ns/net`).ino === want) break;
        } catch {
          // not there yet
        }
        if (i > 200) throw new Error(`sleeper in ${p} did not start`);
        await new Promise((r) => setTimeout(r, 10));
      }
      this.paths[`@SLEEPER${this.sleepers.length - 1}`] = String(c.pid);
    }
  }

  stopSleepers(): void {
    for (const c of this.sleepers) c.kill('SIGKILL');
  }

  // Replaces placeholders: whole-string "@X" values, and @SLEEPER/@SELFPID as numbers.
  resolve(v: unknown): unknown {
    if (typeof v === 'string') {
      if (v === '@SELFPID') return process.pid;
      if (/^@SLEEPER\d$/.test(v)) return Number(this.paths[v]);
      return Object.hasOwn(this.paths, v) ? this.paths[v] : v;
    }
    if (Array.isArray(v)) return v.map((x) => this.resolve(x));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: this.resolve(x), enumerable: true, writable: true, configurable: true });
      return out;
    }
    return v;
  }

  private resolveText(text: string): string {
    let t = text.replace(/"@SELFPID"/g, String(process.pid)).replace(/"(@SLEEPER\d)"/g, (m, k: string) => this.paths[k] ?? m);
    const keys = Object.keys(this.paths).filter((k) => !k.startsWith('@SLEEPER')).sort((a, b) => b.length - a.length);
    for (const k of keys) t = t.split(k).join(JSON.stringify(this.paths[k]).slice(1, -1));
    return t;
  }

  // Safety net: a pid or a namespace path must never lead the hook to a
  // network namespace other than the test's (the real host's, above all).
  private safePid(pid: unknown): unknown {
    if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || pid > this.pidMax) return pid;
    try {
      const ino = fs.statSync(`/proc/${pid}/ns/net`).ino;
      if (this.nsInodes.has(ino) || pid === process.pid) return pid;
    } catch {
      return pid; // no such process: harmless
    }
    return this.pidMax + 1;
  }

  private safeNsPath(p: unknown): unknown {
    if (typeof p !== 'string' || p === '/proc/self/ns/net' || p === '/proc/thread-self/ns/net') return p;
    try {
      const st = fs.statSync(p);
      const ownIno = fs.statSync('/proc/self/ns/net').ino;
      const nsfsDev = fs.statSync('/proc/self/ns/net').dev;
      if (st.dev === nsfsDev && !this.nsInodes.has(st.ino) && st.ino !== ownIno) return this.paths['@NOWHERE'];
    } catch {
      // missing: harmless
    }
    return p;
  }

  private guardState(text: string): string {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return text;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v) || !('pid' in v)) return text;
    const s = v as Record<string, unknown>;
    const safe = this.safePid(s.pid);
    return safe === s.pid ? text : JSON.stringify({ ...s, pid: safe });
  }

  // A damaged config text can still parse, with a path that a mutation
  // changed ("@BPFFS" + junk is a new directory in the host's bpffs): the
  // places nkit writes must stay the test's own.
  private guardConfig(text: string): string {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return text;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) return text;
    const c = v as Record<string, unknown>;
    const ours = (p: string): boolean => Object.values(this.paths).includes(p) || p.startsWith(`${this.o.work}/`);
    let changed = false;
    for (const [k, safe] of [['runDir', '@RUNDIR2'], ['bpffsDir', '@NOTBPF'], ['logFile', '@LOGFILE']] as const) {
      const p = c[k];
      if (typeof p === 'string' && p.startsWith('/') && !ours(p)) {
        c[k] = this.paths[safe];
        changed = true;
      }
    }
    return changed ? JSON.stringify(c) : text;
  }

  private guardBundle(v: unknown): unknown {
    const nss = (v as { linux?: { namespaces?: unknown } } | null)?.linux?.namespaces;
    if (Array.isArray(nss)) for (const n of nss) if (n && typeof n === 'object' && 'path' in n) (n as { path: unknown }).path = this.safeNsPath((n as { path: unknown }).path);
    return v;
  }

  private writeFile(file: string, text: string, a: FileAttrs): void {
    fs.rmSync(file, { recursive: true, force: true });
    fs.writeFileSync(file, text);
    fs.chownSync(file, a.uid, a.uid);
    fs.chmodSync(file, a.mode);
  }

  // Writes the case's bundle, config and policy files; returns the hook's options.
  private materialize(c: HookCase): { stdin: string; configFlag?: string; logLevel?: string; env: NodeJS.ProcessEnv; state?: Record<string, unknown> } {
    const cfgFile = path.join(this.bundleDir, 'config.json');
    fs.rmSync(cfgFile, { force: true });
    if (!c.bundle.missing) fs.writeFileSync(cfgFile, c.bundle.text ?? JSON.stringify(this.guardBundle(this.resolve(c.bundle.value))));
    for (const f of fs.readdirSync(this.o.policiesDir)) fs.rmSync(path.join(this.o.policiesDir, f), { recursive: true, force: true });
    c.policies.forEach((p, i) => this.writeFile(path.join(this.o.policiesDir, `${POLICY_NAMES[i]}.json`), p.text ?? JSON.stringify(this.resolve(p.value)), p.attrs));
    let configFlag: string | undefined = this.baseConfig;
    let env: NodeJS.ProcessEnv = {};
    if (c.config) {
      const k = c.config;
      fs.rmSync(this.caseConfig, { recursive: true, force: true });
      if (k.via === 'dir') fs.mkdirSync(this.caseConfig);
      else if (k.via !== 'missing') this.writeFile(this.caseConfig, this.guardConfig(k.text !== undefined ? this.resolveText(k.text) : JSON.stringify(this.resolve(k.value)) ?? ''), k.attrs);
      if (k.via === 'env') {
        configFlag = undefined;
        env = { NKIT_CONFIG: this.caseConfig };
      } else {
        configFlag = this.caseConfig;
      }
    }
    const stdin = this.guardState(c.text !== undefined ? this.resolveText(c.text) : (JSON.stringify(this.resolve(c.state)) ?? ''));
    let state: Record<string, unknown> | undefined;
    try {
      const s = JSON.parse(stdin) as unknown;
      if (s && typeof s === 'object' && !Array.isArray(s)) state = s as Record<string, unknown>;
    } catch {
      // not JSON: the hook must say so
    }
    return { stdin, ...(configFlag ? { configFlag } : {}), ...(c.logLevel !== undefined ? { logLevel: c.logLevel } : {}), env, ...(state ? { state } : {}) };
  }

  // fd -> what it points at. By target too: the listing's own fd takes the
  // lowest free number, which a later open reuses.
  private openFds(): Map<string, string> {
    const out = new Map<string, string>();
    for (const fd of fs.readdirSync('/proc/self/fd')) {
      try {
        out.set(fd, fs.readlinkSync(`/proc/self/fd/${fd}`));
      } catch {
        // the listing's own fd, closed by now
      }
    }
    return out;
  }

  // Closes what a hook run left open, except the log files (src/log.ts keeps
  // one logger per file and level); returns the targets of the others.
  private closeLeaks(before: Map<string, string>): string[] {
    const leaked: string[] = [];
    for (const [fd, target] of this.openFds()) {
      if (before.get(fd) === target || target.endsWith('.log')) continue;
      leaked.push(target);
      try {
        fs.closeSync(Number(fd));
      } catch {
        // gone meanwhile
      }
    }
    return leaked;
  }

  /** Open fds on log files (bounded: one per log file and level). */
  logFds(): number {
    return [...this.openFds().values()].filter((t) => t.endsWith('.log')).length;
  }

  private hook(stage: string, h: { stdin: string; configFlag?: string; logLevel?: string; env: NodeJS.ProcessEnv }): { ok: true; summary: string } | { ok: false; err: unknown } {
    const before = this.openFds();
    const t0 = process.hrtime.bigint();
    let r: { ok: true; summary: string } | { ok: false; err: unknown };
    try {
      r = { ok: true, summary: ociHook({ stage, stdin: h.stdin, ...(h.configFlag ? { configFlag: h.configFlag } : {}), ...(h.logLevel !== undefined ? { logLevel: h.logLevel } : {}), env: h.env }).summary };
    } catch (err) {
      r = { ok: false, err };
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    this.slowestMs = Math.max(this.slowestMs, ms);
    if (process.env.FUZZ_DEBUG) process.stderr.write(`T ${stage} ${r.ok ? 'ok' : 'err'} ${ms.toFixed(1)}\n`);
    const leaked = this.closeLeaks(before);
    if (leaked.length) throw new Violation(`${stage}: left ${leaked.length} fd(s) open: ${leaked.join(', ')}`);
    if (ms > this.o.caseTimeoutMs) throw new Violation(`${stage}: took ${ms.toFixed(0)} ms (bound ${this.o.caseTimeoutMs} ms)`);
    return r;
  }

  private checkError(stage: string, err: unknown, state: Record<string, unknown> | undefined): void {
    const known = KNOWN_BUGS.find((b) => b.matches(err, state));
    if (known) {
      const k = (this.findings.knownBugs[known.name] ??= { what: known.what, count: 0, example: '' });
      if (!k.count++) k.example = short({ stage, id: state?.id, error: (err as Error).message });
      return;
    }
    if (!(err instanceof NkitError)) {
      const e = err as Error;
      throw new Violation(`${stage}: not a clean error: ${e?.name ?? typeof err}: ${e?.message ?? String(err)}\n${(e?.stack ?? '').split('\n').slice(1, 6).join('\n')}`);
    }
    if (!err.message.trim()) throw new Violation(`${stage}: NkitError ${err.code} with an empty message`);
    this.stats.errors[err.code] = (this.stats.errors[err.code] ?? 0) + 1;
    if (process.env.FUZZ_DEBUG) process.stderr.write(`E ${stage} ${err.message.slice(0, 200)}\n`);
    const line = hookFailureLine('nkit-oci-hook', stage, err);
    if (/[\n\r]/.test(line)) {
      this.findings.multiLineErrors++;
      this.findings.multiLineExample ??= line.slice(0, 300);
    }
  }

  // A setup that succeeded: the record is ready, the devices exist in the
  // right places, the choices follow the annotations.
  private checkSetup(h: { stdin: string; configFlag?: string; env: NodeJS.ProcessEnv; state?: Record<string, unknown> }): void {
    const cfg = loadHookConfig(h.configFlag, h.env);
    const id = h.state?.id as string;
    const rec = readRecord(cfg.runDir, id);
    if (!rec) throw new Violation(`setup said ok but there is no record of ${id}`);
    if (rec.state !== 'ready') throw new Violation(`record of ${id} is ${rec.state}, not ready`);
    if (!this.nsInodes.has(rec.netns.ino)) throw new Violation(`setup used a namespace that is not a test container's: ${rec.netns.path}`);
    const primary = withNetlink(-1, (s) => getLink(s, { name: rec.primary.name }));
    if (!primary || primary.index !== rec.primary.ifindex) throw new Violation(`device ${rec.primary.name} missing or not the recorded one`);
    if (primary.alias !== `nkit:${id}`) throw new Violation(`device ${rec.primary.name} has alias ${primary.alias}`);
    const fd = this.nsFds[this.nsInoList.indexOf(rec.netns.ino)]!;
    if (!withNetlink(fd, (s) => getLink(s, { name: 'eth0' }))) throw new Violation(`no eth0 in ${rec.netns.path}`);
    const bundleAnn = this.bundleAnnotations();
    const stateAnn = (h.state?.annotations ?? {}) as Record<string, string>;
    const ann = { ...bundleAnn, ...stateAnn };
    const wantNet = ann['org.nkit.network'] ?? 'default';
    const wantPol = ann['org.nkit.policy'] ?? cfg.policy;
    if (rec.network !== wantNet) throw new Violation(`network ${rec.network}, annotations asked for ${wantNet}`);
    if (rec.policy.name !== wantPol) throw new Violation(`policy ${rec.policy.name}, expected ${wantPol}`);
    this.stats.setups++;
  }

  private bundleAnnotations(): Record<string, string> {
    try {
      const v = JSON.parse(fs.readFileSync(path.join(this.bundleDir, 'config.json'), 'utf8')) as { annotations?: Record<string, unknown> };
      const out: Record<string, string> = {};
      if (v && typeof v.annotations === 'object' && v.annotations) for (const [k, x] of Object.entries(v.annotations)) if (typeof x === 'string') out[k] = x;
      return out;
    } catch {
      return {};
    }
  }

  // Everything nkit could leave: devices (host and containers), records,
  // leases, policy copies, sysctl state, pins.
  leftovers(): string[] {
    const out: string[] = [];
    withNetlink(-1, (s) => {
      for (const l of listLinks(s)) if (l.name.startsWith('nk') || l.alias?.startsWith('nkit:')) out.push(`host device ${l.name} (alias ${l.alias})`);
    });
    this.nsFds.forEach((fd, i) =>
      withNetlink(fd, (s) => {
        for (const l of listLinks(s)) if (l.name !== 'lo') out.push(`device ${l.name} in ${this.o.netns[i]}`);
      }),
    );
    const walk = (dir: string, rel = ''): void => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const r = path.join(rel, e.name);
        if (e.isDirectory()) walk(dir, r);
        else if (!e.name.endsWith('.lock') && !e.name.endsWith('.log')) out.push(`file ${path.join(dir, r)}`);
      }
    };
    for (const d of this.runDirs) walk(d);
    try {
      // The shared programs stay pinned for the next container (src/bpf/shared.ts).
      for (const e of fs.readdirSync(this.o.bpffsDir)) if (!e.startsWith(SHARED_PREFIX)) out.push(`pin ${path.join(this.o.bpffsDir, e)}`);
    } catch {
      // not created yet
    }
    // The host's bpffs is shared: nothing may appear beside our directory.
    const base = path.basename(this.o.bpffsDir);
    for (const e of fs.readdirSync(path.dirname(this.o.bpffsDir))) if (e.startsWith(base) && e !== base) out.push(`bpffs entry ${e} beside ${this.o.bpffsDir}`);
    return out;
  }

  // The checker checked: leftovers planted by hand must be seen and scrubbed.
  selfCheck(): void {
    spawnSync('ip', ['link', 'add', 'nkfuzzcheck0', 'type', 'veth', 'peer', 'name', 'nkfuzzcheck1'], { stdio: 'ignore' });
    fs.mkdirSync(path.join(this.o.runDir, 'containers'), { recursive: true });
    fs.writeFileSync(path.join(this.o.runDir, 'containers', 'selfcheck.json'), '{}');
    fs.mkdirSync(path.join(this.o.bpffsDir, 'selfcheck'), { recursive: true });
    const seen = this.leftovers().join('; ');
    for (const want of ['host device nkfuzzcheck0', 'selfcheck.json', 'pin ']) if (!seen.includes(want)) throw new Error(`self-check: leftovers() missed ${want} (saw: ${seen})`);
    this.scrub();
    const after = this.leftovers();
    if (after.length) throw new Error(`self-check: scrub() left ${after.join('; ')}`);
  }

  // After a violation: put everything back so the next cases start clean.
  scrub(): void {
    withNetlink(-1, (s) => {
      for (const l of listLinks(s)) if (l.name.startsWith('nk') || l.alias?.startsWith('nkit:')) deleteLink(s, { index: l.index });
    });
    for (const fd of this.nsFds) {
      withNetlink(fd, (s) => {
        for (const l of listLinks(s)) if (l.name !== 'lo') deleteLink(s, { index: l.index });
      });
    }
    for (const d of this.runDirs) for (const sub of ['containers', 'ipam', 'policies', 'locks', 'host-sysctls.json']) fs.rmSync(path.join(d, sub), { recursive: true, force: true });
    try {
      for (const e of fs.readdirSync(this.o.bpffsDir)) {
        const p = path.join(this.o.bpffsDir, e);
        if (fs.statSync(p).isDirectory()) removePins(p);
        else fs.rmSync(p, { force: true });
      }
    } catch {
      // nothing there
    }
    const base = path.basename(this.o.bpffsDir);
    for (const e of fs.readdirSync(path.dirname(this.o.bpffsDir))) {
      if (!e.startsWith(base) || e === base) continue;
      const dir = path.join(path.dirname(this.o.bpffsDir), e);
      for (const sub of fs.readdirSync(dir)) if (fs.statSync(path.join(dir, sub)).isDirectory()) removePins(path.join(dir, sub));
      removePins(dir);
    }
  }

  // One case: the property. Throws a Violation (after scrubbing) when it fails.
  runCase(c: HookCase): void {
    fs.writeFileSync(this.o.progress, short(c, 300));
    beat();
    try {
      this.runCaseInner(c);
      const left = this.leftovers();
      if (left.length) throw new Violation(`left behind: ${left.join('; ')}`);
    } catch (err) {
      this.scrub();
      throw err;
    }
  }

  private runCaseInner(c: HookCase): void {
    const h = this.materialize(c);
    const r = this.hook(c.stage, h);
    if (!r.ok) {
      this.checkError(c.stage, r.err, h.state);
      return;
    }
    if (!SETUP_STAGES.includes(c.stage)) return;
    if (r.summary === 'already set up') throw new Violation(`setup said "already set up" with no earlier setup`);
    this.checkSetup(h);
    if (c.again) {
      const other = c.stage === 'prestart' ? 'createRuntime' : 'prestart';
      const a = this.hook(other, h);
      if (!a.ok) throw new Violation(`second setup stage ${other} failed: ${(a.err as Error).message}`);
      if (a.summary !== 'already set up') throw new Violation(`second setup stage ${other}: "${a.summary}", expected "already set up"`);
    }
    // The second poststop (idempotence) only with `again`, to save time.
    for (const attempt of c.again ? [1, 2] : [1]) {
      const d = this.hook('poststop', h);
      if (!d.ok) throw new Violation(`poststop #${attempt} after a successful setup failed: ${(d.err as Error).message}`);
      const want = attempt === 1 ? /^removed \d+ objects$/ : /^nothing to tear down$/;
      if (!want.test(d.summary)) throw new Violation(`poststop #${attempt}: "${d.summary}"`);
    }
  }

  // Runs one property; never throws.
  runProperty(name: keyof typeof cases, numRuns: number, seed: number): PropertySummary {
    this.stats = { setups: 0, errors: {} };
    const t0 = Date.now();
    const details = fc.check(
      fc.property(cases[name], (c) => {
        this.runCase(c);
      }),
      { numRuns, seed, interruptAfterTimeLimit: this.o.propertyTimeMs, markInterruptAsFailure: false, endOnFailure: false },
    );
    const s: PropertySummary = {
      name,
      target: numRuns,
      runs: details.numRuns,
      ms: Date.now() - t0,
      failed: details.failed,
      interrupted: details.interrupted,
      setups: this.stats.setups,
      errors: this.stats.errors,
      seed: details.seed,
    };
    if (details.failed) {
      s.counterexample = short(details.counterexample?.[0], 200);
      s.error = short((details.errorInstance as Error | undefined)?.message ?? String(details.errorInstance), 1500);
      s.shrinks = details.numShrinks;
      if (details.counterexamplePath) s.path = short(details.counterexamplePath, 100);
    }
    return s;
  }

  close(): void {
    for (const fd of this.nsFds) fs.closeSync(fd);
    this.stopSleepers();
  }
}

// A case that hangs blocks this thread for good: a watchdog thread notices
// the missing heartbeat, writes the case in progress and kills the process.
const heartbeat = new Int32Array(new SharedArrayBuffer(4));
const beat = (): void => {
  Atomics.store(heartbeat, 0, Math.floor(Date.now() / 1000));
};
const WATCHDOG = `
const { workerData: w } = require('node:worker_threads');
const fs = require('node:fs');
setInterval(() => {
  const last = Atomics.load(w.heartbeat, 0);
  const idle = Math.floor(Date.now() / 1000) - last;
  if (last && idle * 1000 > w.hangMs) {
    let c = '(unknown)';
    try { c = fs.readFileSync(w.progress, 'utf8'); } catch {}
    fs.writeFileSync(w.out, JSON.stringify({ hang: { seconds: idle, case: c } }));
    process.kill(process.pid, 'SIGKILL');
  }
}, 1000);
`;

async function main(): Promise<void> {
  const o = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as RunnerOptions;
  beat();
  new Worker(WATCHDOG, { eval: true, workerData: { heartbeat, hangMs: Math.max(30_000, 6 * o.caseTimeoutMs), progress: o.progress, out: o.out } }).unref();
  if (o.netns.length !== CONTAINERS) throw new Error(`need ${CONTAINERS} container namespaces`);
  const f = new HookFuzzer(o);
  await f.startSleepers();
  const t0 = Date.now();
  const properties: PropertySummary[] = [];
  try {
    const pre = f.leftovers();
    if (pre.length) throw new Error(`not clean before the first case: ${pre.join('; ')}`);
    f.selfCheck();
    for (const [name, n] of Object.entries(o.runs) as Array<[keyof typeof cases, number]>) {
      const s = f.runProperty(name, n, o.seed);
      properties.push(s);
      process.stderr.write(`# fuzz ${name}: ${s.runs}/${s.target} cases in ${s.ms} ms, ${s.setups} setups${s.failed ? `, FAILED: ${s.error}` : ''}\n`);
    }
    f.findings.logFds = f.logFds();
  } finally {
    f.close();
  }
  const summary: RunnerSummary = {
    properties,
    totalRuns: properties.reduce((a, p) => a + p.runs, 0),
    ms: Date.now() - t0,
    slowestMs: Math.round(f.slowestMs),
    findings: f.findings,
  };
  fs.writeFileSync(o.out, JSON.stringify(summary, null, 2));
  process.exitCode = properties.some((p) => p.failed) ? 1 : 0;
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`fuzz runner: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(3);
  });
}
