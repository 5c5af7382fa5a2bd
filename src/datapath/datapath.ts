// The two datapaths behind one interface: netkit (default) and veth + tcx
// (fallback). Each knows how to ask for its pair and where the policy's two
// programs attach; everything else (addresses, routes, BPF) is shared.
import * as abi from '../bpf/abi';
import { LinkMode } from '../config/config';
import * as C from '../netlink/constants';
import { NewPairRequest } from '../netlink/rtnl';
import { ContainerPlan } from '../plan/plan';

export type DatapathKind = 'netkit' | 'veth';

export interface Datapath {
  kind: DatapathKind;
  /** The single RTM_NEWLINK request for the pair, peer inside netnsFd,
   * the host device at ifindex (the container's slot). */
  pairRequest(plan: ContainerPlan, netnsFd: number, queues: number, ifindex: number): NewPairRequest;
  /** Attach types for the program on packets from / to the container. */
  attach: { egress: number; ingress: number };
  /** Whether the devices carry an ethernet header (then ARP/ND exist). */
  isL2(mode: LinkMode): boolean;
}

export const netkit: Datapath = {
  kind: 'netkit',
  pairRequest(plan, netnsFd, queues, ifindex) {
    // An L3 netkit device has a zero MAC; an L2 one gets ours (see plan.macs).
    const l2 = plan.mode === 'l2';
    const q = { numTxQueues: queues, numRxQueues: queues };
    return {
      kind: 'netkit',
      name: plan.primary,
      index: ifindex,
      mtu: plan.mtu,
      ...q,
      ...(l2 ? { address: plan.macs.primary } : {}),
      // The container's eth0 gets the same ifindex: the program on packets
      // towards the container sees eth0's, and must find the same slot.
      peer: { name: plan.peer, index: ifindex, netnsFd, mtu: plan.mtu, ...q, ...(l2 ? { address: plan.macs.peer } : {}) },
      netkit: {
        mode: plan.mode,
        // Blackhole on both sides until the policy program is attached: no
        // packet passes before the policy exists.
        policy: C.NETKIT_DROP,
        peerPolicy: C.NETKIT_DROP,
        // Sent explicitly (as Cilium does): zero would silently mean NONE for
        // the peer and let skb mark/priority cross namespaces.
        scrub: C.NETKIT_SCRUB_NONE,
        peerScrub: C.NETKIT_SCRUB_DEFAULT,
      },
    };
  },
  attach: { egress: abi.ATTACH_NETKIT_PEER, ingress: abi.ATTACH_NETKIT_PRIMARY },
  isL2: (mode) => mode === 'l2',
};

export const veth: Datapath = {
  kind: 'veth',
  pairRequest(plan, netnsFd, queues, ifindex) {
    const q = { numTxQueues: queues, numRxQueues: queues };
    // Both programs run on the host veth: only its ifindex names the slot.
    return {
      kind: 'veth',
      name: plan.primary,
      index: ifindex,
      mtu: plan.mtu,
      ...q,
      address: plan.macs.primary,
      peer: { name: plan.peer, netnsFd, mtu: plan.mtu, ...q, address: plan.macs.peer },
    };
  },
  // On the host-side veth, tcx ingress sees what the container sent.
  attach: { egress: abi.ATTACH_TCX_INGRESS, ingress: abi.ATTACH_TCX_EGRESS },
  isL2: () => true,
};

export const datapaths: Record<DatapathKind, Datapath> = { netkit, veth };
