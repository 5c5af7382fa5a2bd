// What a container's program decides for a packet, computed by running the
// real program on a crafted packet (BPF_PROG_TEST_RUN) as a dry run: no
// counters move, no connection-table entry is made.
import * as abi from '../bpf/abi';
import { asNkitError } from '../errors';
import { addon } from '../native';
import { PacketSpec, ethFrame } from './packet';

export interface TestResult {
  verdict: 'pass' | 'drop';
  /** The counter slot the program chose: pass, pass_reply, drop_policy, ... */
  reason: string;
  /** Index (in its direction) of the rule that allowed it, if one did. */
  rule?: number;
}

const SKB_CTX_SIZE = 192; // sizeof(struct __sk_buff)
const SKB_MARK = 8;
const SKB_CB0 = 48;

const SLOT_NAMES = Object.fromEntries(Object.entries(abi.COUNTER_SLOTS).map(([k, v]) => [v, k]));

// The program of a pinned link (the link's prog_id, then its fd).
export function programOfLink(linkPin: string): number {
  const a = addon();
  let linkFd: number | undefined;
  try {
    linkFd = a.bpfObjGet(linkPin);
    // struct bpf_link_info: type u32, id u32, prog_id u32, ...
    const info = a.bpfObjInfo(linkFd, 64);
    return a.bpfGetFdById('prog', info.readUInt32LE(8));
  } catch (err) {
    throw asNkitError(err, 'ESTATE', `find the program behind ${linkPin}`);
  } finally {
    if (linkFd !== undefined) a.closeFd(linkFd);
  }
}

// A struct __sk_buff for a test run against the container in slot: test
// runs come in on loopback, where the program takes the slot from cb[2].
export function testRunCtx(slot: number, dry: boolean): Buffer {
  const ctx = Buffer.alloc(SKB_CTX_SIZE);
  if (dry) ctx.writeUInt32LE(abi.DRYRUN_MARK, SKB_MARK);
  ctx.writeUInt32LE(slot, SKB_CB0 + 8);
  return ctx;
}

// Runs progFd on the packet as a dry run for the container in slot.
// BPF_PROG_TEST_RUN hands a tc program an ethernet frame whatever the
// device, and in a dry run the program reads the IP header after it
// (bpf/policy.bpf.c).
export function testPacket(progFd: number, spec: PacketSpec, slot: number): TestResult {
  const ctx = testRunCtx(slot, true);
  const r = addon().bpfProgTestRun(progFd, ethFrame(spec), 1, ctx);
  const out = r.ctxOut ?? Buffer.alloc(SKB_CTX_SIZE);
  const reason = out.readUInt32LE(SKB_CB0);
  const rule = out.readUInt32LE(SKB_CB0 + 4);
  return {
    verdict: r.retval === abi.VERDICT_PASS ? 'pass' : 'drop',
    reason: SLOT_NAMES[reason] ?? `counter slot ${reason}`,
    ...(rule > 0 ? { rule: rule - 1 } : {}),
  };
}
