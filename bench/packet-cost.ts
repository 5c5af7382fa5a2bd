// The per-packet cost nkit adds to the datapath: its policy program run on
// this kernel through BPF_PROG_TEST_RUN for an allowed, a denied, a reply
// and a spoofed packet, beside an empty program (the floor: the test-run
// loop itself), all in one run, cases interleaved in a shuffled order; and
// what the verifier reported for each program. The policy is the 10-rule
// workload of bench/policy-cost.ts (bench/workload.ts), which measures the
// same program at 0-10,000 rules.
import * as abi from '../src/bpf/abi';
import { closePolicyObject, loadPolicyObject, type PolicyObject } from '../src/bpf/program';
import { addon } from '../src/native';
import { compilePolicy } from '../src/policy/compile';
import { installPolicy, type DeviceCfg } from '../src/policy/maps';
import { ethFrame, type PacketSpec } from '../src/policy/packet';
import { parsePolicy } from '../src/policy/rules';
import { testPacket } from '../src/policy/testrun';
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
const SKB_CTX_SIZE = 192;
const SKB_MARK = 8;

const describe = (p: PacketSpec): string => `${p.src}:${p.sport} -> ${p.dst}:${p.dport} ${p.proto}${p.tcpFlags === 0x12 ? ' SYN-ACK' : ' SYN'}`;

// Checks each packet's verdict with a dry run, then times all cases interleaved.
export function runPacketCost(s: PacketSettings, emptyObjPath: string, log: (s: string) => void): PacketResults {
  const w = workload(PACKET_RULES);
  const spoof: PacketSpec = { ...w.allowed, src: SPOOF_SRC };
  const load = (policy: ReturnType<typeof compilePolicy>): PolicyObject => {
    const o = loadPolicyObject();
    installPolicy(o.maps, policy, DEV);
    return o;
  };
  const rules = load(compilePolicy(parsePolicy(policyJson(w.rules), 'bench-10', 'bench-10', 'bench')));
  const allowAll = load(compilePolicy({ name: 'allow-all', source: 'bench', allowAll: true, ingress: [], egress: [] }));
  const emptyObj = addon().bpfObjectLoad(emptyObjPath, {});
  try {
    const emptyPass = emptyObj.programs.find((p) => p.name === 'empty_pass')!.fd;
    // One real allowed packet first: the reply then finds its connection.
    addon().bpfProgTestRun(rules.progs.egress, ethFrame(w.allowed), 1);
    const dry = Buffer.alloc(SKB_CTX_SIZE);
    dry.writeUInt32LE(abi.DRYRUN_MARK, SKB_MARK);
    interface Case {
      id: PacketCase;
      prog: number;
      spec: PacketSpec;
      retval: number;
      ctx?: Buffer;
      info: Omit<PacketCaseInfo, 'got'>;
    }
    const E = abi.PROG_EGRESS, I = abi.PROG_INGRESS;
    const cases: Case[] = [
      { id: 'empty', prog: emptyPass, spec: w.allowed, retval: abi.VERDICT_PASS, info: { packet: describe(w.allowed), program: 'empty_pass (`return 0`)', expect: 'pass' } },
      { id: 'allowed', prog: rules.progs.egress, spec: w.allowed, retval: abi.VERDICT_PASS, info: { packet: describe(w.allowed), program: E, expect: 'pass' } },
      { id: 'new-flow', prog: rules.progs.egress, spec: w.newFlow, retval: abi.VERDICT_PASS, ctx: dry, info: { packet: `${describe(w.newFlow)}, the first packet of a flow, as a dry run (the rules; no connection-table insert, no counters)`, program: E, expect: 'pass' } },
      { id: 'allowed-allow-all', prog: allowAll.progs.egress, spec: w.allowed, retval: abi.VERDICT_PASS, info: { packet: `${describe(w.allowed)}, policy allow-all`, program: E, expect: 'pass' } },
      { id: 'denied', prog: rules.progs.egress, spec: w.denied, retval: abi.VERDICT_DROP, info: { packet: describe(w.denied), program: E, expect: 'drop_policy' } },
      { id: 'reply', prog: rules.progs.ingress, spec: w.reply, retval: abi.VERDICT_PASS, info: { packet: describe(w.reply), program: I, expect: 'pass_reply' } },
      { id: 'spoof', prog: rules.progs.egress, spec: spoof, retval: abi.VERDICT_DROP, info: { packet: `${describe(spoof)} (not the container's address)`, program: E, expect: 'drop_spoof' } },
    ];
    const res: PacketResults = { settings: s, frameBytes: ethFrame(w.allowed).length, samples: {}, cases: {}, progs: [progInfo(rules.progs.egress), progInfo(rules.progs.ingress), progInfo(emptyPass)] };
    for (const c of cases) {
      const got = c.id === 'empty' ? 'pass' : testPacket(c.prog, c.spec).reason;
      if (got !== c.info.expect) throw new Error(`packet cost: the ${c.id} packet got ${got}, not ${c.info.expect}`);
      res.cases[c.id] = { ...c.info, got };
      res.samples[c.id] = [];
    }
    const frames = new Map(cases.map((c) => [c.id, ethFrame(c.spec)]));
    const rnd = prng(3);
    for (let r = 0; r < s.rounds; r++) {
      for (const c of shuffle(cases, rnd)) {
        const f = frames.get(c.id)!;
        const out = c.ctx ? addon().bpfProgTestRun(c.prog, f, s.repeat, c.ctx) : addon().bpfProgTestRun(c.prog, f, s.repeat);
        if (out.retval !== c.retval) throw new Error(`packet cost ${c.id}: verdict ${out.retval}, expected ${c.retval}`);
        res.samples[c.id]!.push(out.duration);
      }
      log(`  packet cost round ${r + 1}/${s.rounds}`);
    }
    return res;
  } finally {
    closePolicyObject(rules);
    closePolicyObject(allowAll);
    addon().bpfObjectClose(emptyObj.handle);
  }
}
