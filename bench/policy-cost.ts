// Per-packet cost of nkit's policy program at 0, 10, 1,000 and 10,000 rules:
// (1) BPF_PROG_TEST_RUN of the program alone, (2) the in-kernel path on a
// veth between two namespaces, against no filter and against nftables with
// the same rules in two forms. Writes BENCHMARKS.md and a JSON copy of every
// sample. `make bench` builds what it needs first.
//   node dist/bench/policy-cost.js [--quick] [--cpu N] [--out FILE] [--json FILE]
// NKIT_BPF_OBJECT=other.bpf.o measures another build of the program.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as abi from '../src/bpf/abi';
import { addContainer, closePolicyObject, loadPolicyObject, policyObjectPath, type PolicyObject } from '../src/bpf/program';
import { addon, packageRoot } from '../src/native';
import { compilePolicy, type CompiledPolicy } from '../src/policy/compile';
import { closeMaps, installPolicy, type DeviceCfg, type PolicyMapFds } from '../src/policy/maps';
import { ethFrame } from '../src/policy/packet';
import { parsePolicy, type Policy } from '../src/policy/rules';
import { testPacket, testRunCtx } from '../src/policy/testrun';
import { nftRuleset, type NftForm } from './nft';
import { createPair, nftLoad, otherhost, removePairs, runSender, type Job, type Pair } from './netns';
import { progInfo, type ProgInfo } from './progs';
import { machineInfo, writeReport, type Machine } from './report';
import { shuffle } from './stats';
import { policyJson, prng, workload, type Workload } from './workload';

export const SIZES = [0, 10, 1000, 10000] as const;
export const KINDS = ['allowed', 'denied', 'reply'] as const;
export type Kind = (typeof KINDS)[number];

export interface Settings {
  testRunRepeat: number;
  testRunRounds: number;
  kernelRepeats: number;
  kernelRounds: number;
  burstUs: number;
  cpu: number;
}

const FULL: Settings = { testRunRepeat: 1_000_000, testRunRounds: 11, kernelRepeats: 15, kernelRounds: 30, burstUs: 2000, cpu: 1 };
const QUICK: Settings = { testRunRepeat: 1_000_000, testRunRounds: 3, kernelRepeats: 3, kernelRounds: 5, burstUs: 2000, cpu: 1 };

export interface SizeInfo {
  n: number;
  compileMs: number;
  installMs: number;
  cidrEntries: number;
  portEntries: number;
  sets: number;
  nftLoadMs: Record<NftForm, number>;
}

export interface Results {
  settings: Settings;
  machine: Machine;
  startedAt: string;
  /** Length of the measured frames (all three are the same size). */
  frameBytes: number;
  wallSeconds: number;
  loadAvg: number[];
  sizes: SizeInfo[];
  progs: ProgInfo[];
  /** Test-run ns/packet samples per case id ("empty", "<n>/<kind>"). */
  testRun: Record<string, number[]>;
  /** What was measured: the object file (path, sha256 prefix) and the checkout. */
  object: { path: string; sha256: string };
  commit: string;
  /** In-kernel ns/packet samples per variant id ("none/<kind>", "nkit:<n>/<kind>", ...). */
  kernel: Record<string, number[]>;
  /** Per job id: the largest wall/CPU time of a repeat (1: nothing ran elsewhere). */
  wallOverCpu: Record<string, number>;
  /** Per job id: the largest share of ksoftirqd in a repeat's CPU time (softirq work not in the sender's own time). */
  softirqdShare: Record<string, number>;
  checks: string[];
}

const DEV: DeviceCfg = { l3Offset: 14, neigh: false, addr4: Buffer.from([10, 213, 0, 2]) };

/** One container of the bench: the host's one object, its slot, its maps. */
interface BenchContainer {
  progs: PolicyObject['progs'];
  slot: number;
  maps: PolicyMapFds;
}

interface Loaded {
  w: Workload;
  /** Measures denied packets (deny-all with no rules), and everything when n > 0. */
  obj: BenchContainer;
  /** Measures allowed packets and replies: obj, or allow-all when n = 0. */
  allowObj: BenchContainer;
  info: SizeInfo;
}

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

function install(obj: BenchContainer, c: CompiledPolicy): number {
  const t0 = process.hrtime.bigint();
  installPolicy(obj.maps, c, DEV);
  return ms(t0);
}

// Every size's containers share one object, as on a host (slots 0, 1, ...).
function container(shared: PolicyObject): BenchContainer {
  const slot = nextSlot++;
  return { progs: shared.progs, slot, maps: addContainer(shared, slot) };
}
let nextSlot = 0;

function loadSize(shared: PolicyObject, n: number): Loaded {
  const w = workload(n);
  const t0 = process.hrtime.bigint();
  const policy: Policy = parsePolicy(policyJson(w.rules), `bench-${n}`, `bench-${n}`, 'bench');
  const compiled = compilePolicy(policy);
  const compileMs = ms(t0);
  const obj = container(shared);
  const installMs = install(obj, compiled);
  let allowObj = obj;
  if (n === 0) {
    allowObj = container(shared);
    install(allowObj, compilePolicy({ name: 'allow-all', source: 'bench', allowAll: true, ingress: [], egress: [] }));
  }
  return {
    w,
    obj,
    allowObj,
    info: { n, compileMs, installMs, cidrEntries: compiled.cidrs.length, portEntries: compiled.ports.length, sets: compiled.sets, nftLoadMs: { linear: NaN, set: NaN } },
  };
}

// What the program decides for the three packets, as dry runs (after one
// real allowed packet, so the reply finds its connection entry).
function checkVerdicts(l: Loaded, checks: string[]): void {
  const { w } = l;
  addon().bpfProgTestRun(l.allowObj.progs.egress, ethFrame(w.allowed), 1, ctxOf(l.allowObj));
  const got = {
    allowed: testPacket(l.allowObj.progs.egress, w.allowed, l.allowObj.slot),
    denied: testPacket(l.obj.progs.egress, w.denied, l.obj.slot),
    reply: testPacket(l.allowObj.progs.ingress, w.reply, l.allowObj.slot),
  };
  // allow-all (0 rules) keeps no connection table: its replies pass as any packet does.
  const want = { allowed: 'pass', denied: 'drop_policy', reply: w.n === 0 ? 'pass' : 'pass_reply' };
  for (const k of KINDS) {
    if (got[k].reason !== want[k]) throw new Error(`${w.n} rules: the ${k} packet got ${got[k].reason}, not ${want[k]}`);
  }
  if (w.n > 0 && got.allowed.rule !== w.target) throw new Error(`${w.n} rules: the allowed packet matched rule ${got.allowed.rule}, not ${w.target}`);
  checks.push(`test run, ${w.n} rules: allowed -> ${got.allowed.reason}${got.allowed.rule === undefined ? ' (allow-all)' : ` by rule ${got.allowed.rule}`}, denied -> ${got.denied.reason}, reply -> ${got.reply.reason}`);
}

interface Case {
  id: string;
  prog: number;
  frame: Buffer;
  retval: number;
  /** Names the container's slot (and a dry run's mark). */
  ctx: Buffer;
}

// The struct __sk_buff of a test run: it names the container's slot, and
// for a dry run carries the mark (bpf/nkit_abi.h NKIT_DRYRUN_MARK;
// src/policy/testrun.ts): the program decides as usual but writes neither
// the connection table nor the counters. A dry run of a flow
// the table does not hold is the first packet of a flow, over and over: the
// rules, without the insert (an insert cannot be repeated in one test run).
const ctxOf = (c: BenchContainer, dry = false): Buffer => testRunCtx(c.slot, dry);

function testRunPhase(s: Settings, loaded: Loaded[], emptyPass: number, results: Results): void {
  const w0 = loaded[0]!.w;
  const frames = { allowed: ethFrame(w0.allowed), newFlow: ethFrame(w0.newFlow), denied: ethFrame(w0.denied), reply: ethFrame(w0.reply) };
  results.frameBytes = frames.allowed.length;
  const cases: Case[] = [{ id: 'empty', prog: emptyPass, frame: frames.allowed, retval: abi.VERDICT_PASS, ctx: testRunCtx(0, false) }];
  for (const l of loaded) {
    cases.push({ id: `${l.w.n}/allowed`, prog: l.allowObj.progs.egress, frame: frames.allowed, retval: abi.VERDICT_PASS, ctx: ctxOf(l.allowObj) });
    cases.push({ id: `${l.w.n}/new-flow`, prog: l.allowObj.progs.egress, frame: frames.newFlow, retval: abi.VERDICT_PASS, ctx: ctxOf(l.allowObj, true) });
    cases.push({ id: `${l.w.n}/denied`, prog: l.obj.progs.egress, frame: frames.denied, retval: abi.VERDICT_DROP, ctx: ctxOf(l.obj) });
    cases.push({ id: `${l.w.n}/reply`, prog: l.allowObj.progs.ingress, frame: frames.reply, retval: abi.VERDICT_PASS, ctx: ctxOf(l.allowObj) });
  }
  const rnd = prng(1);
  for (const c of cases) results.testRun[c.id] = [];
  for (let r = 0; r < s.testRunRounds; r++) {
    for (const c of shuffle(cases, rnd)) {
      const res = addon().bpfProgTestRun(c.prog, c.frame, s.testRunRepeat, c.ctx);
      if (res.retval !== c.retval) throw new Error(`test run ${c.id}: verdict ${res.retval}, expected ${c.retval}`);
      results.testRun[c.id]!.push(res.duration);
    }
    process.stderr.write(`  test run round ${r + 1}/${s.testRunRounds}\n`);
  }
}

// Attaches a program with tcx; the link lives as long as its fd.
function tcx(prog: number, pair: Pair, type: number): number {
  return addon().bpfLinkCreate(prog, pair.hostIfindex, type, 0, pair.hostFd);
}

function kernelPhase(s: Settings, loaded: Loaded[], empty: { pass: number; drop: number }, sender: string, results: Results): void {
  const prefix = `nkb${process.pid}`;
  const links: number[] = [];
  try {
    const w = loaded[0]!.w;
    const frames = { allowed: ethFrame(w.allowed), denied: ethFrame(w.denied), reply: ethFrame(w.reply) };
    const none = createPair(prefix, 'none');
    const emptyPair = createPair(prefix, 'empty');
    const dropPair = createPair(prefix, 'drop');
    links.push(tcx(empty.pass, emptyPair, abi.ATTACH_TCX_INGRESS), tcx(empty.pass, emptyPair, abi.ATTACH_TCX_EGRESS), tcx(empty.drop, dropPair, abi.ATTACH_TCX_INGRESS));
    // Job ids name what is measured; several ids may share one job (n = 0:
    // both nftables forms are the same empty chain for the allowed packet).
    const jobs = new Map<string, Job>();
    const ids = new Map<string, string>();
    const add = (id: string, pair: Pair, kind: Kind): void => {
      const key = `${pair.tag}/${kind}`;
      if (!jobs.has(key)) jobs.set(key, { id: key, pair, from: kind === 'reply' ? 'host' : 'ctr', frame: frames[kind] });
      ids.set(id, key);
    };
    for (const k of KINDS) add(`none/${k}`, none, k);
    add('empty/allowed', emptyPair, 'allowed');
    add('empty/reply', emptyPair, 'reply');
    add('drop/denied', dropPair, 'denied');
    for (const l of loaded) {
      const n = l.w.n;
      const nkit = createPair(prefix, `nkit${n}`, abi.slotIfindex(l.obj.slot));
      links.push(tcx(l.obj.progs.egress, nkit, abi.ATTACH_TCX_INGRESS), tcx(l.obj.progs.ingress, nkit, abi.ATTACH_TCX_EGRESS));
      let nkitAllow = nkit;
      if (n === 0) {
        nkitAllow = createPair(prefix, 'nkit0allow', abi.slotIfindex(l.allowObj.slot));
        links.push(tcx(l.allowObj.progs.egress, nkitAllow, abi.ATTACH_TCX_INGRESS), tcx(l.allowObj.progs.ingress, nkitAllow, abi.ATTACH_TCX_EGRESS));
      }
      add(`nkit:${n}/allowed`, nkitAllow, 'allowed');
      add(`nkit:${n}/denied`, nkit, 'denied');
      add(`nkit:${n}/reply`, nkitAllow, 'reply');
      let nftAccept: Pair | undefined;
      if (n === 0) {
        nftAccept = createPair(prefix, 'nft0accept');
        nftLoad(nftAccept, nftRuleset([], 'linear', 'h0', true));
      }
      for (const form of ['linear', 'set'] as const) {
        const pair = createPair(prefix, `nft${form}${n}`);
        const t0 = process.hrtime.bigint();
        nftLoad(pair, nftRuleset(l.w.rules, form, 'h0'));
        l.info.nftLoadMs[form] = ms(t0);
        add(`nft-${form}:${n}/allowed`, nftAccept ?? pair, 'allowed');
        add(`nft-${form}:${n}/denied`, pair, 'denied');
      }
    }
    // Allowed jobs first: their packets create the connection entries the
    // reply jobs need.
    const order = [...jobs.values()].sort((a, b) => KINDS.indexOf(kindOf(a.id)) - KINDS.indexOf(kindOf(b.id)));
    verifyJobs(sender, s.cpu, order, results.checks);
    const samples = new Map<string, number[]>(order.map((j) => [j.id, []]));
    const dropped0 = backlogDrops(s.cpu);
    for (let r = 0; r < s.kernelRepeats; r++) {
      const res = runSender(sender, s.cpu, s.burstUs, s.kernelRounds, order);
      res.forEach((x, i) => {
        // Softirq work pushed off to ksoftirqd (when other work wants the
        // CPU) is part of the path's cost too.
        samples.get(order[i]!.id)!.push((x.cpuNs + x.softirqdNs) / x.packets);
        const id = order[i]!.id;
        results.wallOverCpu[id] = Math.max(results.wallOverCpu[id] ?? 0, x.wallNs / x.cpuNs);
        results.softirqdShare[id] = Math.max(results.softirqdShare[id] ?? 0, x.softirqdNs / (x.cpuNs + x.softirqdNs));
      });
      process.stderr.write(`  in-kernel repeat ${r + 1}/${s.kernelRepeats}\n`);
    }
    const dropped = backlogDrops(s.cpu) - dropped0;
    if (dropped !== 0) throw new Error(`${dropped} frames were dropped from CPU ${s.cpu}'s backlog (before any filter): the numbers would be wrong`);
    results.checks.push(`in-kernel: no frame was dropped from the backlog of CPU ${s.cpu} (/proc/net/softnet_stat)`);
    for (const [id, key] of ids) results.kernel[id] = samples.get(key)!;
  } finally {
    for (const fd of links) addon().closeFd(fd);
    removePairs();
  }
}

// Frames the CPU's backlog dropped (the second column of softnet_stat).
function backlogDrops(cpu: number): number {
  const line = fs.readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n')[cpu];
  return line ? parseInt(line.split(/\s+/)[1]!, 16) : 0;
}

const kindOf = (jobId: string): Kind => jobId.slice(jobId.lastIndexOf('/') + 1) as Kind;

// Each job alone, a few packets: did its filter pass (or drop) every frame?
// Passed frames are counted by the receiving device as rx otherhost.
function verifyJobs(sender: string, cpu: number, jobs: Job[], checks: string[]): void {
  const fails: string[] = [];
  for (const j of jobs) {
    const passes = kindOf(j.id) !== 'denied' || j.pair.tag === 'none';
    const before = otherhost(j.pair, j.from);
    const [r] = runSender(sender, cpu, 200, 1, [j]);
    const delta = otherhost(j.pair, j.from) - before;
    const want = passes ? r!.total : 0;
    if (delta !== want) fails.push(`${j.id}: ${delta} of ${r!.total} frames got past the filter, expected ${want}`);
  }
  if (fails.length > 0) throw new Error(`in-kernel verdicts are not what the benchmark assumes:\n  ${fails.join('\n  ')}`);
  checks.push(`in-kernel: every job's frames passed or were dropped as intended (${jobs.length} jobs, checked by the receiving device's rx otherhost counter)`);
}

// HEAD's short hash, and whether bpf/ or src/ differ from it.
function checkout(root: string): string {
  const git = (args: string[]): string => spawnSync('git', ['-C', root, ...args], { encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  return git(['status', '--porcelain', '--', 'bpf', 'src']) ? `${head} with uncommitted changes in bpf/ or src/` : head;
}

function main(): void {
  const argv = process.argv.slice(2);
  const s = { ...(argv.includes('--quick') ? QUICK : FULL) };
  const arg = (name: string, dflt: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
  };
  s.cpu = Number(arg('--cpu', String(s.cpu)));
  const root = packageRoot();
  const out = arg('--out', path.join(root, 'BENCHMARKS.md'));
  const jsonOut = arg('--json', path.join(root, '.cache', 'bench', 'policy-cost.json'));
  const sender = arg('--sender', path.join(root, '.cache', 'bench', 'sender'));
  const emptyObjPath = arg('--empty-object', path.join(root, '.cache', 'bench', 'empty.bpf.o'));
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates network namespaces and loads BPF programs');
  for (const f of [sender, emptyObjPath]) if (!fs.existsSync(f)) throw new Error(`${f} is missing: run \`make bench\`, which builds it`);

  const t0 = Date.now();
  const results: Results = {
    settings: s,
    machine: machineInfo(),
    startedAt: new Date(t0).toISOString(),
    frameBytes: 0,
    object: { path: policyObjectPath().startsWith(`${root}/`) ? path.relative(root, policyObjectPath()) : policyObjectPath(), sha256: createHash('sha256').update(fs.readFileSync(policyObjectPath())).digest('hex').slice(0, 12) },
    commit: checkout(root),
    wallSeconds: 0,
    loadAvg: (fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3)).map(Number),
    sizes: [],
    progs: [],
    testRun: {},
    kernel: {},
    wallOverCpu: {},
    softirqdShare: {},
    checks: [],
  };
  const emptyObj = addon().bpfObjectLoad(emptyObjPath, {});
  const progFd = (name: string): number => emptyObj.programs.find((p) => p.name === name)!.fd;
  const empty = { pass: progFd('empty_pass'), drop: progFd('empty_drop') };
  const loaded: Loaded[] = [];
  const shared = loadPolicyObject();
  const cleanup = (): void => {
    for (const l of loaded) {
      closeMaps(l.obj.maps);
      if (l.allowObj !== l.obj) closeMaps(l.allowObj.maps);
    }
    closePolicyObject(shared);
    addon().bpfObjectClose(emptyObj.handle);
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      removePairs();
      process.exit(130);
    });
  }
  try {
    process.stderr.write('policy-cost: loading the policy at each size\n');
    for (const n of SIZES) {
      const l = loadSize(shared, n);
      loaded.push(l);
      checkVerdicts(l, results.checks);
    }
    results.progs = [progInfo(loaded[1]!.obj.progs.egress), progInfo(loaded[1]!.obj.progs.ingress), progInfo(empty.pass)];
    process.stderr.write('policy-cost: BPF_PROG_TEST_RUN\n');
    testRunPhase(s, loaded, empty.pass, results);
    process.stderr.write('policy-cost: in-kernel path (veth, tcx vs nftables)\n');
    kernelPhase(s, loaded, empty, sender, results);
    results.sizes = loaded.map((l) => l.info);
  } finally {
    cleanup();
  }
  results.wallSeconds = (Date.now() - t0) / 1000;
  fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
  fs.writeFileSync(jsonOut, `${JSON.stringify(results, null, 1)}\n`);
  fs.writeFileSync(out, writeReport(results, { jsonOut: path.relative(root, jsonOut) }));
  process.stderr.write(`policy-cost: wrote ${out} and ${jsonOut} (${results.wallSeconds.toFixed(0)} s)\n`);
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    removePairs();
    process.stderr.write(`policy-cost: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  }
}
