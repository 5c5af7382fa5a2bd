// The per-packet cost nkit adds to the datapath: its policy program run on
// this kernel through BPF_PROG_TEST_RUN for an allowed, a denied, a reply
// and a spoofed packet, beside an empty program (the floor: the test-run
// loop itself), all in one run, cases interleaved in a shuffled order; and
// what the verifier reported for each program. The policy is the 10-rule
// workload of bench/policy-cost.ts (bench/workload.ts), which measures the
// same program at 0-10,000 rules.
import * as abi from '../src/bpf/abi';
import { addContainer, closePolicyObject, loadPolicyObject } from '../src/bpf/program';
import { addon } from '../src/native';
import { compilePolicy } from '../src/policy/compile';
import { closeMaps, installPolicy, type DeviceCfg, type PolicyMapFds } from '../src/policy/maps';
import { ethFrame, type PacketSpec } from '../src/policy/packet';
import { parsePolicy } from '../src/policy/rules';
import { testPacket, testRunCtx } from '../src/policy/testrun';
import { progInfo, type ProgInfo } from './progs';
import { shuffle } from './stats';
import { CONTAINER_ADDR, policyJson, prng, workload } from './workload';

export const PACKET_RULES = 10;
export const SPOOF_SRC = '10.213.0.66';

export const PACKET_CASES = ['empty', 'allowed', 'new-flow', 'allowed-allow-all', 'denied', 'reply', 'spoof'] as const;
export type PacketCase = (typeof PACKET_CASES)[number];

export interface PacketSettings {
  repeat: number;
  rounds: number;
}

export const PACKET_FULL: PacketSettings = { repeat: 1_000_000, rounds: 11 };
export const PACKET_QUICK: PacketSettings = { repeat: 1_000_000, rounds: 3 };

export interface PacketCaseInfo {
  packet: string;
  program: string;
  expect: string;
  /** What a dry run of the program decided (checked before timing). */
  got: string;
}

export interface PacketResults {
  settings: PacketSettings;
  frameBytes: number;
  samples: Record<string, number[]>;
  cases: Record<string, PacketCaseInfo>;
  progs: ProgInfo[];
}

const DEV: DeviceCfg = { l3Offset: 14, neigh: false, addr4: Buffer.from(CONTAINER_ADDR.split('.').map(Number)) };
const describe = (p: PacketSpec): string => `${p.src}:${p.sport} -> ${p.dst}:${p.dport} ${p.proto}${p.tcpFlags === 0x12 ? ' SYN-ACK' : ' SYN'}`;

// Checks each packet's verdict with a dry run, then times all cases interleaved.
export function runPacketCost(s: PacketSettings, emptyObjPath: string, log: (s: string) => void): PacketResults {
  const w = workload(PACKET_RULES);
  const spoof: PacketSpec = { ...w.allowed, src: SPOOF_SRC };
  // One object, as on a host: two containers in slots 0 and 1.
  const obj = loadPolicyObject();
  const containers: PolicyMapFds[] = [];
  const load = (slot: number, policy: ReturnType<typeof compilePolicy>): number => {
    const m = addContainer(obj, slot);
    containers.push(m);
    installPolicy(m, policy, DEV);
    return slot;
  };
  const emptyObj = addon().bpfObjectLoad(emptyObjPath, {});
  try {
    const rulesSlot = load(0, compilePolicy(parsePolicy(policyJson(w.rules), 'bench-10', 'bench-10', 'bench')));
    const allowSlot = load(1, compilePolicy({ name: 'allow-all', source: 'bench', allowAll: true, ingress: [], egress: [] }));
    const rules = testRunCtx(rulesSlot, false);
    const allowAll = testRunCtx(allowSlot, false);
    const emptyPass = emptyObj.programs.find((p) => p.name === 'empty_pass')!.fd;
    const { egress, ingress } = obj.progs;
    // One real allowed packet first: the reply then finds its connection.
    addon().bpfProgTestRun(egress, ethFrame(w.allowed), 1, rules);
    const dry = testRunCtx(rulesSlot, true);
    interface Case {
      id: PacketCase;
      prog: number;
      spec: PacketSpec;
      retval: number;
      /** Names the container's slot (test runs come in on loopback). */
      ctx: Buffer;
      info: Omit<PacketCaseInfo, 'got'>;
    }
    const E = abi.PROG_EGRESS, I = abi.PROG_INGRESS;
    const cases: Case[] = [
      { id: 'empty', prog: emptyPass, spec: w.allowed, retval: abi.VERDICT_PASS, ctx: rules, info: { packet: describe(w.allowed), program: 'empty_pass (`return 0`)', expect: 'pass' } },
      { id: 'allowed', prog: egress, spec: w.allowed, retval: abi.VERDICT_PASS, ctx: rules, info: { packet: describe(w.allowed), program: E, expect: 'pass' } },
      { id: 'new-flow', prog: egress, spec: w.newFlow, retval: abi.VERDICT_PASS, ctx: dry, info: { packet: `${describe(w.newFlow)}, the first packet of a flow, as a dry run (the rules; no connection-table insert, no counters)`, program: E, expect: 'pass' } },
      { id: 'allowed-allow-all', prog: egress, spec: w.allowed, retval: abi.VERDICT_PASS, ctx: allowAll, info: { packet: `${describe(w.allowed)}, policy allow-all`, program: E, expect: 'pass' } },
      { id: 'denied', prog: egress, spec: w.denied, retval: abi.VERDICT_DROP, ctx: rules, info: { packet: describe(w.denied), program: E, expect: 'drop_policy' } },
      { id: 'reply', prog: ingress, spec: w.reply, retval: abi.VERDICT_PASS, ctx: rules, info: { packet: describe(w.reply), program: I, expect: 'pass_reply' } },
      { id: 'spoof', prog: egress, spec: spoof, retval: abi.VERDICT_DROP, ctx: rules, info: { packet: `${describe(spoof)} (not the container's address)`, program: E, expect: 'drop_spoof' } },
    ];
    const res: PacketResults = { settings: s, frameBytes: ethFrame(w.allowed).length, samples: {}, cases: {}, progs: [progInfo(egress), progInfo(ingress), progInfo(emptyPass)] };
    for (const c of cases) {
      const got = c.id === 'empty' ? 'pass' : testPacket(c.prog, c.spec, c.ctx === allowAll ? allowSlot : rulesSlot).reason;
      if (got !== c.info.expect) throw new Error(`packet cost: the ${c.id} packet got ${got}, not ${c.info.expect}`);
      res.cases[c.id] = { ...c.info, got };
      res.samples[c.id] = [];
    }
    const frames = new Map(cases.map((c) => [c.id, ethFrame(c.spec)]));
    const rnd = prng(3);
    for (let r = 0; r < s.rounds; r++) {
      for (const c of shuffle(cases, rnd)) {
        const f = frames.get(c.id)!;
        const out = addon().bpfProgTestRun(c.prog, f, s.repeat, c.ctx);
        if (out.retval !== c.retval) throw new Error(`packet cost ${c.id}: verdict ${out.retval}, expected ${c.retval}`);
        res.samples[c.id]!.push(out.duration);
      }
      log(`  packet cost round ${r + 1}/${s.rounds}`);
    }
    return res;
  } finally {
    for (const m of containers) closeMaps(m);
    closePolicyObject(obj);
    addon().bpfObjectClose(emptyObj.handle);
  }
}
