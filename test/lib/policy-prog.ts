// The policy object loaded for a test: a compiled policy installed into its
// maps, and packets run through it (counted, or as dry runs).
import * as abi from '../../src/bpf/abi';
import { addContainer, closePolicyObject, loadPolicyObject, possibleCpus, type PolicyObject } from '../../src/bpf/program';
import { addon } from '../../src/native';
import { compilePolicy } from '../../src/policy/compile';
import { closeMaps, installPolicy, type DeviceCfg, type PolicyMapFds } from '../../src/policy/maps';
import { parsePolicy, type Policy } from '../../src/policy/rules';
import { testPacket, testRunCtx, type TestResult } from '../../src/policy/testrun';
import { ethFrame, type PacketSpec } from '../../src/policy/packet';
import type { Scope } from './scope';

export const CTR4 = '10.213.0.2';
export const CTR6 = 'fd6e:6b69:74::2';

export interface LoadedPolicy {
  obj: PolicyObject;
  /** The test container's maps, in obj's slot `slot`. */
  maps: PolicyMapFds;
  slot: number;
  install(p: Policy | string, dev?: Partial<DeviceCfg>): ReturnType<typeof installPolicy>;
  /** Runs one frame for real (counters, connection table); returns the verdict. */
  run(dir: 'ingress' | 'egress', frame: Buffer): number;
  /** A dry run with reason and rule. */
  test(dir: 'ingress' | 'egress', spec: PacketSpec): TestResult;
  counter(dir: 'ingress' | 'egress', slot: number): abi.Counter;
  entries(): number;
}

export const policyOf = (json: unknown, name = 'test'): Policy =>
  typeof json === 'string' && !json.startsWith('{')
    ? { name: json, source: 'test', allowAll: json === 'allow-all', ingress: [], egress: [] }
    : parsePolicy(typeof json === 'string' ? json : JSON.stringify(json), name, name, 'test');

// A slot other than 0: a test run that ignored cb[2] would find no maps.
export const TEST_SLOT = 7;

// Loads a fresh object with one container's maps in TEST_SLOT (closed with
// the scope).
export function loadForTest(scope: Scope): LoadedPolicy {
  const obj = loadPolicyObject();
  scope.teardown(() => closePolicyObject(obj));
  const maps = addContainer(obj, TEST_SLOT, 1024);
  scope.teardown(() => closeMaps(maps));
  const ctx = testRunCtx(TEST_SLOT, false);
  const dev: DeviceCfg = { l3Offset: 14, neigh: false, addr4: Buffer.from([10, 213, 0, 2]), addr6: Buffer.from('fd6e6b69007400000000000000000002', 'hex') };
  const prog = (dir: 'ingress' | 'egress'): number => (dir === 'egress' ? obj.progs.egress : obj.progs.ingress);
  const ncpu = possibleCpus();
  return {
    obj,
    maps,
    slot: TEST_SLOT,
    install: (p, d = {}) => installPolicy(maps, compilePolicy(typeof p === 'string' ? policyOf(p) : p), { ...dev, ...d }),
    run: (dir, frame) => addon().bpfProgTestRun(prog(dir), frame, 1, ctx).retval,
    test: (dir, spec) => testPacket(prog(dir), spec, TEST_SLOT),
    counter: (dir, slot) => {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(abi.counterKey(dir === 'egress' ? abi.DIR_EGRESS : abi.DIR_INGRESS, slot));
      return abi.sumPerCpuCounter(addon().bpfMapLookup(maps.counters, key, abi.COUNTER_SIZE * ncpu) ?? Buffer.alloc(0));
    },
    entries: () => {
      let n = 0;
      for (const [fd, size] of [[maps.cidr4, abi.CIDR4_KEY_SIZE], [maps.cidr6, abi.CIDR6_KEY_SIZE], [maps.cidrh, abi.CIDRH_KEY_SIZE], [maps.ports, abi.PORT_KEY_SIZE]] as const) {
        for (let k = addon().bpfMapNextKey(fd, null, size); k; k = addon().bpfMapNextKey(fd, k, size)) n++;
      }
      return n;
    },
  };
}

export { ethFrame };

// The connection-table entries, decoded (struct nkit_ct_val).
export function ctEntries(p: LoadedPolicy): abi.CtVal[] {
  const fd = p.maps.ct;
  const out: abi.CtVal[] = [];
  for (let k = addon().bpfMapNextKey(fd, null, abi.CT_KEY_SIZE); k; k = addon().bpfMapNextKey(fd, k, abi.CT_KEY_SIZE)) {
    const v = addon().bpfMapLookup(fd, k, abi.CT_VAL_SIZE);
    if (v) out.push(abi.decodeCtVal(v));
  }
  return out;
}
