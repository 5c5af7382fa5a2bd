// Container network setup and teardown, side by side: nkit's OCI hook with
// the warm agent and cold (Node starts per call), the CNI ptp plugin with
// host-local IPAM, and netavark's bridge driver, each on a fresh netns per
// iteration, interleaved in a shuffled order within every round, at 0, 100
// and 1,000 existing nkit containers. Floors in the same rounds: `node -e 0`,
// a no-op hook stage through the agent and cold, and the policy object's
// load (the verifier) in this process. Runs inside the benchmark's own host
// netns (bench/sys.ts reexecInHostNetns); every command is timed by
// bench/timeit.c.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../src/native';
import { agentApplyMs, CNI_DIR, NETAVARK_PATHS, Runner, VARIANTS, WITH_TEARDOWN, type Ctx, type SyscallProfile } from './lifecycle-runner';
import { shuffle } from './stats';
import { netnsBatch, NETNS_DIR, sh, type Sample } from './sys';
import { prng } from './workload';

export { VARIANTS, WITH_TEARDOWN, type SyscallProfile, type VariantId } from './lifecycle-runner';


export interface LifecycleSettings {
  /**
   * Measured rounds per pass. The existing containers go 0 -> 100 -> 1,000
   * -> 100 -> 0 and every step is measured on the way up and down (the top
   * one twice as long), so a drift of the machine's load falls on every
   * step alike instead of looking like growth.
   */
  passRounds: number;
  /** Rounds discarded before the first measured one (agent and caches warm up). */
  warmup: number;
  scales: number[];
  /** Hook clients in flight while the existing containers are made or removed. */
  populateConcurrency: number;
  /** Agent setups + teardowns traced with strace at the first and the top step (0: none). */
  profileIterations: number;
}

export const LIFECYCLE_FULL: LifecycleSettings = { passRounds: 8, warmup: 2, scales: [0, 100, 1000], populateConcurrency: 3, profileIterations: 5 };
export const LIFECYCLE_QUICK: LifecycleSettings = { passRounds: 3, warmup: 1, scales: [0, 100, 1000], populateConcurrency: 3, profileIterations: 3 };


export interface ScaleResult {
  existing: number;
  /** Passes that measured this step (2 except at the top). */
  passes: number;
  /** Wall time to make the existing containers of this step on the way up (through the agent). */
  populateS: number;
  populateMade: number;
  /** Wall time to tear down the ones above this step on the way down (through the agent). */
  removeS: number;
  removed: number;
  setup: Record<string, Sample[]>;
  teardown: Record<string, Sample[]>;
  /** The agent's own "setup done" ms (apply, from its log) for the measured nkit-agent setups. */
  agentApplyMs: number[];
  /** The agent's memory after each pass of this step. */
  agentRss: Array<{ vmRssKb: number; vmHwmKb: number }>;
  /** Where the time goes, from strace: the agent's main thread, and ptp (undefined: not traced at this scale). */
  profile?: { agent?: SyscallProfile; ptp?: SyscallProfile };
}


export interface LifecycleResults {
  settings: LifecycleSettings;
  versions: { ptp: string; netavark: string; iptables: string };
  nkitDatapath: string;
  scales: ScaleResult[];
  /** Wall time to tear down all existing containers at the end, through the agent. */
  cleanupS: number;
  checks: string[];
  notes: string[];
}

function firstLine(argv: string[]): string {
  try {
    return sh(argv).trim().split('\n')[0] ?? '?';
  } catch {
    return 'n/a';
  }
}

export function netavarkPath(): string | undefined {
  return NETAVARK_PATHS.find((p) => fs.existsSync(p));
}

export interface LifecycleOptions {
  settings: LifecycleSettings;
  timeit: string;
  prefix: string;
  workDir: string;
  log: (s: string) => void;
}

// Runs the whole lifecycle benchmark; cleans up what it made, also on failure.
export async function runLifecycle(o: LifecycleOptions): Promise<LifecycleResults> {
  const s = o.settings;
  const netavark = netavarkPath();
  if (!netavark) throw new Error('netavark is missing: apt-get install netavark (make bench does)');
  if (!fs.existsSync(path.join(CNI_DIR, 'ptp'))) throw new Error(`${CNI_DIR}/ptp is missing: apt-get install containernetworking-plugins (make bench does)`);
  const dir = o.workDir;
  const runDir = path.join(dir, 'run');
  const bpffsDir = `/sys/fs/bpf/nkit-bench-${process.pid}`;
  for (const d of ['policies', 'bundles', 'cni-ipam', 'netavark']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const configPath = path.join(dir, 'config.json');
  // IPv4 only for all three, one address each (ptp and netavark get the
  // same); a /16 so that 1,000 containers fit.
  fs.writeFileSync(
    configPath,
    JSON.stringify({ datapath: 'auto', runDir, bpffsDir, policiesDir: path.join(dir, 'policies'), networks: { default: { subnets: ['10.213.0.0/16'], mtu: 1500, mode: 'l3' } }, policy: 'deny-all', logLevel: 'info' }),
    { mode: 0o600 },
  );
  const ptpConf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'nkbench',
    type: 'ptp',
    ipMasq: false,
    mtu: 1500,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.214.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(dir, 'cni-ipam') },
  });
  const netavarkConf = (id: string, ip = '10.215.0.2'): string =>
    JSON.stringify({
      container_id: id.replace(/[^a-zA-Z0-9]/g, '0').padEnd(12, '0'),
      container_name: id,
      networks: { nkbench: { interface_name: 'eth0', static_ips: [ip] } },
      network_info: {
        nkbench: {
          dns_enabled: false,
          driver: 'bridge',
          id: '6e6b62656e6368'.padEnd(64, '0'),
          internal: false,
          ipv6_enabled: false,
          name: 'nkbench',
          network_interface: 'nkbr0',
          subnets: [{ gateway: '10.215.0.1', subnet: '10.215.0.0/16' }],
        },
      },
    });
  const env: NodeJS.ProcessEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  const ctx: Ctx = {
    timeit: o.timeit,
    prefix: o.prefix,
    dir,
    configPath,
    runDir,
    bpffsDir,
    netavark,
    ptpConf,
    netavarkConf: (id) => netavarkConf(id),
    env,
    hook: path.join(packageRoot(), 'hooks', 'nkit-oci-hook'),
    populateConcurrency: s.populateConcurrency,
  };
  const r = new Runner(ctx);
  const res: LifecycleResults = {
    settings: s,
    versions: {
      ptp: firstLine(['dpkg-query', '-W', '-f', '${Version}', 'containernetworking-plugins']),
      netavark: firstLine(['dpkg-query', '-W', '-f', '${Version}', 'netavark']),
      iptables: firstLine(['iptables', '-V']),
    },
    nkitDatapath: '?',
    scales: [],
    cleanupS: NaN,
    checks: [],
    notes: [],
  };
  // netavark removes its bridge (and its firewall chains) with the last
  // container on it; a resident container keeps them, so that every
  // measured setup is a container joining an existing network, as with
  // Podman on a host that runs containers.
  const resident = `${o.prefix}nvres`;
  const nvArgs = (cmd: string): string[] => [netavark, '--config', path.join(dir, 'netavark'), cmd, `${NETNS_DIR}/${resident}`];
  let residentUp = false;
  try {
    sh(['ip', 'netns', 'add', resident]);
    sh(nvArgs('setup'), { input: netavarkConf('nkb-resident', '10.215.255.254'), env });
    residentUp = true;
    await r.startAgent();
    r.openRing();
    const rnd = prng(7);
    const seenApply = new Set<string>();
    const top = s.scales[s.scales.length - 1]!;
    const passes = [...s.scales, ...s.scales.slice(0, -1).reverse()];
    const byScale = new Map<number, ScaleResult>();
    for (const [pi, n] of passes.entries()) {
      o.log(`lifecycle: ${n} existing containers (pass ${pi + 1}/${passes.length})`);
      let scale = byScale.get(n);
      if (!scale) {
        scale = { existing: n, passes: 0, populateS: 0, populateMade: 0, removeS: 0, removed: 0, setup: {}, teardown: {}, agentApplyMs: [], agentRss: [] };
        for (const v of VARIANTS) {
          scale.setup[v] = [];
          if (WITH_TEARDOWN.includes(v)) scale.teardown[v] = [];
        }
        byScale.set(n, scale);
        res.scales.push(scale);
      }
      if (n >= r.existingCount()) {
        const pop = await r.populate(n);
        scale.populateS += pop.seconds;
        scale.populateMade += pop.made;
        if (pop.made) o.log(`  made ${pop.made} containers in ${pop.seconds.toFixed(1)} s`);
      } else {
        const removed = r.existingCount() - n;
        const secs = await r.removeExisting(n);
        scale.removeS += secs;
        scale.removed += removed;
        o.log(`  tore down ${removed} containers in ${secs.toFixed(1)} s`);
      }
      if (r.existingCount() !== n) throw new Error(`lifecycle: ${r.existingCount()} existing containers, not ${n}`);
      scale.passes++;
      const warm = pi === 0 ? s.warmup : 0;
      const rounds = n === top ? 2 * s.passRounds : s.passRounds;
      for (let round = -warm; round < rounds; round++) {
        for (const v of shuffle([...VARIANTS], rnd)) {
          const [up, down] = r.iterate(v);
          if (round < 0) continue;
          scale.setup[v]!.push(up);
          if (down) scale.teardown[v]!.push(down);
        }
        o.log(round < 0 ? `  warm-up round ${round + warm + 1}/${warm} (discarded)` : `  round ${round + 1}/${rounds}`);
      }
      // The agent's own time for the measured agent setups of this pass.
      const agentPid = String(r.agentPid());
      const mine = [...agentApplyMs(runDir).entries()].filter(([k]) => k.startsWith(`${agentPid}/nkb-a-`) && !seenApply.has(k));
      mine.forEach(([k]) => seenApply.add(k));
      scale.agentApplyMs.push(...mine.slice(mine.length - rounds).map(([, ms]) => ms));
      scale.agentRss.push(r.agentRss());
      if (s.profileIterations > 0 && !scale.profile && (pi === 0 || n === top)) {
        o.log(`  tracing ${s.profileIterations} agent setups and teardowns, and ptp's ADD and DEL (strace)`);
        const agent = await r.profileAgent(s.profileIterations);
        scale.profile = { ...(agent ? { agent } : {}), ptp: r.profilePtp(s.profileIterations) };
      }
    }
    const log = fs.readFileSync(path.join(runDir, 'nkit.log'), 'utf8');
    const dp = /"datapath":"(\w+)"/.exec(log);
    res.nkitDatapath = dp ? dp[1]! : '?';
    if (/falling back to veth\+tcx/.test(log)) res.notes.push('nkit ran with `datapath: auto`; this kernel has no netkit, so every setup tried netkit, probed for it, and fell back to veth+tcx (as it would for a user here)');
    const servedCold = (log.match(/in-process: the agent is not available/g) ?? []).length;
    res.checks.push(`${servedCold} hook runs went in-process (NKIT_NO_AGENT=1: the cold variants, and nothing else)`);
  } finally {
    o.log('lifecycle: cleaning up');
    r.closeRing();
    try {
      res.cleanupS = await r.removeExisting();
    } catch (err) {
      r.failures.push(`teardown of the existing containers: ${(err as Error).message}`);
    }
    await r.stopAgent();
    if (residentUp) {
      try {
        sh(nvArgs('teardown'), { input: netavarkConf('nkb-resident', '10.215.255.254'), env });
      } catch (err) {
        r.failures.push(`netavark teardown of the resident container: ${(err as Error).message}`);
      }
    }
    netnsBatch('del', [resident]);
    const left = leftovers(ctx);
    if (left.length) r.failures.push(`left behind: ${left.join(', ')}`);
    else res.checks.push('after the run: no nkit record, lease, pin or device, no CNI lease, no netavark bridge or veth left in the host netns');
    fs.rmSync(bpffsDir, { recursive: true, force: true });
  }
  for (const [what, n] of r.checks) res.checks.push(`${what}: ${n} checked (${what.endsWith('teardown') ? 'no eth0 left in the container netns' : 'eth0 with an IPv4 address in the container netns'})`);
  if (r.failures.length) throw new Error(`lifecycle benchmark checks failed:\n  ${r.failures.slice(0, 20).join('\n  ')}`);
  return res;
}

// What nkit, ptp and netavark left: records, leases, pins, devices.
function leftovers(ctx: Ctx): string[] {
  const out: string[] = [];
  const list = (d: string): string[] => {
    try {
      return fs.readdirSync(d).filter((n) => !n.startsWith('.'));
    } catch {
      return [];
    }
  };
  for (const f of list(path.join(ctx.runDir, 'containers'))) out.push(`record ${f}`);
  for (const f of list(path.join(ctx.runDir, 'ipam', 'default'))) out.push(`nkit lease ${f}`);
  for (const f of list(ctx.bpffsDir).filter((n) => !n.startsWith('_'))) out.push(`pins ${f}`);
  for (const f of list(path.join(ctx.dir, 'cni-ipam', 'nkbench')).filter((n) => /^\d/.test(n))) out.push(`CNI lease ${f}`);
  const links = JSON.parse(sh(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>;
  for (const l of links) if (l.ifname !== 'lo') out.push(`device ${l.ifname}`);
  return out;
}
