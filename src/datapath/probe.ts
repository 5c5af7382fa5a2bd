// Kernel feature probes, by trying rather than by version numbers: a netkit
// pair and a tcx link are created in a scratch network namespace that
// disappears with its fd.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as abi from '../bpf/abi';
import { closePolicyObject, loadPolicyObject, PolicyObject } from '../bpf/program';
import { asNkitError } from '../errors';
import { addon } from '../native';
import * as C from '../netlink/constants';
import { createPair, getLink } from '../netlink/ops';
import { NetlinkError, errnoText, withNetlink } from '../netlink/socket';

export interface FeatureProbe {
  available: boolean;
  detail: string;
}

export interface NetkitProbe extends FeatureProbe {
  /** Optional netkit attributes the kernel reports back (null: netkit missing). */
  features: { scrub: boolean; headroom: boolean; tailroom: boolean; pairing: boolean } | null;
}

export interface KernelReport {
  kernel: string;
  netkit: NetkitProbe;
  tcx: FeatureProbe;
  bpffs: FeatureProbe;
  btf: FeatureProbe;
  /** What datapath "auto" picks here, and why. */
  auto: { datapath: 'netkit' | 'veth'; reason: string };
}

function inScratchNetns<T>(fn: (nsFd: number) => T): T {
  const fd = addon().netnsNew();
  try {
    return fn(fd);
  } finally {
    addon().closeFd(fd);
  }
}

const describe = (err: unknown): string =>
  err instanceof NetlinkError ? `${errnoText(err.errno ?? 0)}${err.extack ? ` (${err.extack})` : ''}` : (err as Error).message;

// Creates a netkit pair in a scratch netns and reads back what the kernel keeps.
export function probeNetkit(): NetkitProbe {
  try {
    return inScratchNetns((ns) =>
      withNetlink(ns, (s) => {
        createPair(s, {
          kind: 'netkit',
          name: 'nkprobe0',
          peer: { name: 'nkprobe1', netnsFd: ns },
          netkit: { mode: 'l3', policy: C.NETKIT_DROP, peerPolicy: C.NETKIT_DROP, scrub: C.NETKIT_SCRUB_NONE, peerScrub: C.NETKIT_SCRUB_DEFAULT },
        });
        const l = getLink(s, { name: 'nkprobe0' });
        const types = l?.netkit?.attrTypes ?? [];
        const features = {
          scrub: types.includes(C.IFLA_NETKIT_SCRUB),
          headroom: types.includes(C.IFLA_NETKIT_HEADROOM),
          tailroom: types.includes(C.IFLA_NETKIT_TAILROOM),
          pairing: types.includes(C.IFLA_NETKIT_PAIRING),
        };
        return { available: true, detail: 'created a netkit pair (mode l3) in a scratch namespace', features };
      }),
    );
  } catch (err) {
    return { available: false, detail: `cannot create a netkit device: ${describe(err)}`, features: null };
  }
}

// Attaches the policy program with tcx to a veth in a scratch netns.
export function probeTcx(): FeatureProbe {
  let obj: PolicyObject | undefined;
  try {
    obj = loadPolicyObject();
    const prog = obj.progs.ingress;
    return inScratchNetns((ns) =>
      withNetlink(ns, (s) => {
        createPair(s, { kind: 'veth', name: 'nkprobe0', peer: { name: 'nkprobe1', netnsFd: ns } });
        const l = getLink(s, { name: 'nkprobe0' });
        if (!l) return { available: false, detail: 'probe veth vanished' };
        // tcx attaches by ifindex, which is per namespace: do it from inside.
        addon().closeFd(addon().bpfLinkCreate(prog, l.index, abi.ATTACH_TCX_INGRESS, 0, ns));
        return { available: true, detail: 'attached a tcx ingress link to a veth in a scratch namespace' };
      }),
    );
  } catch (err) {
    return { available: false, detail: `tcx attach failed: ${asNkitError(err, 'EKERNEL', 'tcx probe').message}` };
  } finally {
    if (obj) closePolicyObject(obj);
  }
}

export function probeBpffs(dir = '/sys/fs/bpf'): FeatureProbe {
  try {
    const mounted = addon().statfsType(dir) === abi.BPF_FS_MAGIC;
    return { available: mounted, detail: mounted ? `${dir} is a bpf filesystem` : `${dir} is not a bpf filesystem (nkit mounts it on first use)` };
  } catch (err) {
    return { available: false, detail: `${dir}: ${(err as Error).message}` };
  }
}

export function probeBtf(): FeatureProbe {
  const ok = fs.existsSync('/sys/kernel/btf/vmlinux');
  return { available: ok, detail: ok ? '/sys/kernel/btf/vmlinux present' : 'no /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF off)' };
}

// Everything doctor reports about the kernel.
export function probeKernel(): KernelReport {
  const netkit = probeNetkit();
  const tcx = probeTcx();
  const auto = netkit.available
    ? { datapath: 'netkit' as const, reason: 'the kernel creates netkit devices' }
    : { datapath: 'veth' as const, reason: `netkit unavailable (${netkit.detail}); veth+tcx ${tcx.available ? 'works' : 'ALSO FAILS'}` };
  return { kernel: os.release(), netkit, tcx, bpffs: probeBpffs(), btf: probeBtf(), auto };
}
