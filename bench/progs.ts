// What the verifier and the JIT made of a program: struct bpf_prog_info
// from BPF_OBJ_GET_INFO_BY_FD, checked against bpftool's view of it.
import { execFileSync } from 'node:child_process';
import { addon } from '../src/native';

// Offsets in struct bpf_prog_info (/usr/include/linux/bpf.h, linux-libc-dev
// 6.1; the layout only ever grows at the end).
const INFO_SIZE = 232;
const OFF_ID = 4;
const OFF_JITED_LEN = 16;
const OFF_XLATED_LEN = 20;
const OFF_NAME = 64;
const OFF_VERIFIED_INSNS = 216;
const BPF_INSN_SIZE = 8;

export interface ProgInfo {
  name: string;
  id: number;
  /** Instructions the verifier processed (all paths, after pruning). */
  verifiedInsns: number;
  /** Instructions after the verifier's rewrites (what the JIT compiles). */
  xlatedInsns: number;
  jitedBytes: number;
  /** bpftool prog show's bytes_xlated / bytes_jited agree with the above. */
  bpftoolAgrees: boolean;
}

export function progInfo(fd: number): ProgInfo {
  const b = addon().bpfObjInfo(fd, INFO_SIZE);
  const nameBytes = b.subarray(OFF_NAME, OFF_NAME + 16);
  const nul = nameBytes.indexOf(0);
  const info = {
    name: nameBytes.subarray(0, nul < 0 ? 16 : nul).toString('utf8'),
    id: b.readUInt32LE(OFF_ID),
    verifiedInsns: b.length >= OFF_VERIFIED_INSNS + 4 ? b.readUInt32LE(OFF_VERIFIED_INSNS) : NaN,
    xlatedInsns: b.readUInt32LE(OFF_XLATED_LEN) / BPF_INSN_SIZE,
    jitedBytes: b.readUInt32LE(OFF_JITED_LEN),
  };
  let bpftoolAgrees = false;
  try {
    const j = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'id', String(info.id)], { encoding: 'utf8' })) as {
      bytes_xlated?: number;
      bytes_jited?: number;
    };
    bpftoolAgrees = j.bytes_xlated === info.xlatedInsns * BPF_INSN_SIZE && j.bytes_jited === info.jitedBytes;
  } catch {
    // bpftool missing: the report says it could not cross-check
  }
  return { ...info, bpftoolAgrees };
}
