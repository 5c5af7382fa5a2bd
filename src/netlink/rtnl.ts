// Builders and parsers for the rtnetlink messages nkit uses: links (netkit
// and veth pairs), addresses and routes. Pure functions over Buffers.
import * as A from './attr';
import * as C from './constants';
import { frame, NlMessage } from './message';

export type PairKind = 'netkit' | 'veth';

export interface NetkitAttrs {
  mode: 'l2' | 'l3';
  /** Primary's default verdict when no program is attached (NETKIT_PASS/DROP). */
  policy: number;
  peerPolicy: number;
  /** Omitted on kernels without scrub support. */
  scrub?: number;
  peerScrub?: number;
}

export interface PeerAttrs {
  name: string;
  /** The ifindex to give the peer in its namespace (honoured only when
   * the primary's is given too). */
  index?: number;
  /** MAC address (L2 devices only). */
  address?: Buffer;
  /** fd of the network namespace to create the peer in. */
  netnsFd: number;
  mtu?: number;
  numTxQueues?: number;
  numRxQueues?: number;
}

export interface NewPairRequest {
  kind: PairKind;
  name: string;
  /** The ifindex to give the device (0 or absent: the kernel picks). */
  index?: number;
  /** MAC address (L2 devices only). */
  address?: Buffer;
  mtu?: number;
  numTxQueues?: number;
  numRxQueues?: number;
  peer: PeerAttrs;
  /** Required for kind netkit. */
  netkit?: NetkitAttrs;
}

// struct ifinfomsg: family, pad, type, index, flags, change.
export function ifinfomsg(index = 0, flags = 0, change = 0, family = C.AF_UNSPEC): Buffer {
  const b = Buffer.alloc(C.IFINFOMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}

function commonLinkAttrs(o: { address?: Buffer; mtu?: number; numTxQueues?: number; numRxQueues?: number }): A.AttrSpec[] {
  const out: A.AttrSpec[] = [];
  if (o.address !== undefined) out.push(A.bytes(C.IFLA_ADDRESS, o.address));
  if (o.mtu !== undefined) out.push(A.u32(C.IFLA_MTU, o.mtu));
  if (o.numTxQueues !== undefined) out.push(A.u32(C.IFLA_NUM_TX_QUEUES, o.numTxQueues));
  if (o.numRxQueues !== undefined) out.push(A.u32(C.IFLA_NUM_RX_QUEUES, o.numRxQueues));
  return out;
}

// RTM_NEWLINK creating a netkit or veth pair in one request, the peer made
// directly inside its network namespace (moving it later costs 10-20 ms).
export function newPair(req: NewPairRequest, seq: number): Buffer {
  const peerAttrs: A.AttrSpec[] = [
    A.str(C.IFLA_IFNAME, req.peer.name),
    A.u32(C.IFLA_NET_NS_FD, req.peer.netnsFd),
    ...commonLinkAttrs(req.peer),
  ];
  const data: A.AttrSpec[] = [];
  if (req.kind === 'netkit') {
    const nk = req.netkit;
    if (!nk) throw new TypeError('newPair: netkit attributes are required for kind netkit');
    data.push(A.nest(C.IFLA_NETKIT_PEER_INFO, peerAttrs, ifinfomsg(req.peer.index ?? 0)));
    data.push(A.u32(C.IFLA_NETKIT_MODE, nk.mode === 'l3' ? C.NETKIT_L3 : C.NETKIT_L2));
    data.push(A.s32(C.IFLA_NETKIT_POLICY, nk.policy));
    data.push(A.s32(C.IFLA_NETKIT_PEER_POLICY, nk.peerPolicy));
    if (nk.scrub !== undefined) data.push(A.u32(C.IFLA_NETKIT_SCRUB, nk.scrub));
    if (nk.peerScrub !== undefined) data.push(A.u32(C.IFLA_NETKIT_PEER_SCRUB, nk.peerScrub));
  } else {
    data.push(A.nest(C.VETH_INFO_PEER, peerAttrs, ifinfomsg(req.peer.index ?? 0)));
  }
  const attrs = A.encodeAttrs([
    A.str(C.IFLA_IFNAME, req.name),
    ...commonLinkAttrs(req),
    A.nest(C.IFLA_LINKINFO, [A.str(C.IFLA_INFO_KIND, req.kind), A.nest(C.IFLA_INFO_DATA, data)]),
  ]);
  const flags = C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL;
  return frame(C.RTM_NEWLINK, flags, seq, Buffer.concat([ifinfomsg(req.index ?? 0), attrs]));
}

export type LinkRef = { index: number } | { name: string };

function refAttrs(ref: LinkRef): { index: number; attrs: A.AttrSpec[] } {
  return 'index' in ref ? { index: ref.index, attrs: [] } : { index: 0, attrs: [A.str(C.IFLA_IFNAME, ref.name)] };
}

// RTM_DELLINK by index or name.
export function delLink(ref: LinkRef, seq: number): Buffer {
  const r = refAttrs(ref);
  return frame(C.RTM_DELLINK, C.NLM_F_REQUEST | C.NLM_F_ACK, seq, Buffer.concat([ifinfomsg(r.index), A.encodeAttrs(r.attrs)]));
}

// RTM_GETLINK for one link, or a dump of all when ref is omitted.
export function getLink(ref: LinkRef | undefined, seq: number): Buffer {
  if (!ref) return frame(C.RTM_GETLINK, C.NLM_F_REQUEST | C.NLM_F_DUMP, seq, ifinfomsg());
  const r = refAttrs(ref);
  return frame(C.RTM_GETLINK, C.NLM_F_REQUEST, seq, Buffer.concat([ifinfomsg(r.index), A.encodeAttrs(r.attrs)]));
}

export interface SetLinkRequest {
  index: number;
  up?: boolean;
  mtu?: number;
  alias?: string;
}

// RTM_NEWLINK without NLM_F_CREATE: changes flags, MTU or alias of a link.
export function setLink(req: SetLinkRequest, seq: number): Buffer {
  const flags = req.up === undefined ? 0 : req.up ? C.IFF_UP : 0;
  const change = req.up === undefined ? 0 : C.IFF_UP;
  const attrs: A.AttrSpec[] = [];
  if (req.mtu !== undefined) attrs.push(A.u32(C.IFLA_MTU, req.mtu));
  if (req.alias !== undefined) attrs.push(A.str(C.IFLA_IFALIAS, req.alias));
  return frame(C.RTM_NEWLINK, C.NLM_F_REQUEST | C.NLM_F_ACK, seq, Buffer.concat([ifinfomsg(req.index, flags, change), A.encodeAttrs(attrs)]));
}

export interface AddrRequest {
  index: number;
  family: number;
  address: Buffer;
  prefixLen: number;
  flags?: number;
  scope?: number;
}

// RTM_NEWADDR / RTM_DELADDR. IFA_LOCAL and IFA_ADDRESS are both set (point-
// to-point semantics need both on IPv4); IFA_FLAGS carries NODAD etc.
export function addr(op: 'new' | 'del', req: AddrRequest, seq: number): Buffer {
  const hdr = Buffer.alloc(C.IFADDRMSG_LEN);
  hdr.writeUInt8(req.family, 0);
  hdr.writeUInt8(req.prefixLen, 1);
  hdr.writeUInt8((req.flags ?? 0) & 0xff, 2);
  hdr.writeUInt8(req.scope ?? C.RT_SCOPE_UNIVERSE, 3);
  hdr.writeUInt32LE(req.index, 4);
  const attrs: A.AttrSpec[] = [A.bytes(C.IFA_LOCAL, req.address), A.bytes(C.IFA_ADDRESS, req.address)];
  if (req.flags) attrs.push(A.u32(C.IFA_FLAGS, req.flags));
  const type = op === 'new' ? C.RTM_NEWADDR : C.RTM_DELADDR;
  const flags = C.NLM_F_REQUEST | C.NLM_F_ACK | (op === 'new' ? C.NLM_F_CREATE | C.NLM_F_EXCL : 0);
  return frame(type, flags, seq, Buffer.concat([hdr, A.encodeAttrs(attrs)]));
}

export interface RouteRequest {
  family: number;
  /** null for the default route. */
  dst: Buffer | null;
  dstLen: number;
  oif: number;
  scope: number;
  table?: number;
  protocol?: number;
  type?: number;
}

// RTM_NEWROUTE / RTM_DELROUTE: a device route (no gateway), as nkit uses.
export function route(op: 'new' | 'del', req: RouteRequest, seq: number): Buffer {
  const table = req.table ?? C.RT_TABLE_MAIN;
  const hdr = Buffer.alloc(C.RTMSG_LEN);
  hdr.writeUInt8(req.family, 0);
  hdr.writeUInt8(req.dstLen, 1);
  hdr.writeUInt8(0, 2);
  hdr.writeUInt8(0, 3);
  hdr.writeUInt8(table < 256 ? table : 0, 4);
  hdr.writeUInt8(req.protocol ?? C.RTPROT_STATIC, 5);
  hdr.writeUInt8(req.scope, 6);
  hdr.writeUInt8(req.type ?? C.RTN_UNICAST, 7);
  const attrs: A.AttrSpec[] = [];
  if (req.dst) attrs.push(A.bytes(C.RTA_DST, req.dst));
  attrs.push(A.u32(C.RTA_OIF, req.oif));
  if (table >= 256) attrs.push(A.u32(C.RTA_TABLE, table));
  const type = op === 'new' ? C.RTM_NEWROUTE : C.RTM_DELROUTE;
  const flags = C.NLM_F_REQUEST | C.NLM_F_ACK | (op === 'new' ? C.NLM_F_CREATE | C.NLM_F_EXCL : 0);
  return frame(type, flags, seq, Buffer.concat([hdr, A.encodeAttrs(attrs)]));
}

// RTM_GETROUTE for one destination (as `ip route get`): the kernel answers
// with the route it would use, whatever the size of the table.
export function routeGet(family: number, dst: Buffer, seq: number): Buffer {
  const hdr = Buffer.alloc(C.RTMSG_LEN);
  hdr.writeUInt8(family, 0);
  hdr.writeUInt8(dst.length * 8, 1);
  return frame(C.RTM_GETROUTE, C.NLM_F_REQUEST, seq, Buffer.concat([hdr, A.encodeAttrs([A.bytes(C.RTA_DST, dst)])]));
}

// RTM_GETADDR / RTM_GETROUTE dumps for one family (AF_UNSPEC: all).
export function dump(kind: 'addr' | 'route', family: number, seq: number): Buffer {
  const hdr = Buffer.alloc(kind === 'addr' ? C.IFADDRMSG_LEN : C.RTMSG_LEN);
  hdr.writeUInt8(family, 0);
  return frame(kind === 'addr' ? C.RTM_GETADDR : C.RTM_GETROUTE, C.NLM_F_REQUEST | C.NLM_F_DUMP, seq, hdr);
}

export interface NetkitState {
  mode: 'l2' | 'l3' | number;
  policy?: number;
  peerPolicy?: number;
  primary?: boolean;
  scrub?: number;
  peerScrub?: number;
  /** Present only on kernels that know the attribute (newer than 6.12). */
  headroom?: number;
  tailroom?: number;
  /** Attribute types in IFLA_INFO_DATA, for feature probing. */
  attrTypes: number[];
}

export interface LinkState {
  index: number;
  name: string;
  flags: number;
  mtu?: number;
  kind?: string;
  alias?: string;
  numTxQueues?: number;
  numRxQueues?: number;
  /** IFLA_LINK: the peer's ifindex (in its own namespace) for veth/netkit. */
  link?: number;
  linkNetnsId?: number;
  netkit?: NetkitState;
}

// Parses an RTM_NEWLINK payload (answer to getLink or a dump entry).
export function parseLink(msg: NlMessage): LinkState {
  const p = msg.payload;
  const attrs = A.decodeAttrs(p, C.IFINFOMSG_LEN);
  const out: LinkState = {
    index: p.readInt32LE(4),
    name: A.readStr(attrs.get(C.IFLA_IFNAME)) ?? '',
    flags: p.readUInt32LE(8),
  };
  const set = <K extends keyof LinkState>(k: K, v: LinkState[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('mtu', A.readU32(attrs.get(C.IFLA_MTU)));
  set('alias', A.readStr(attrs.get(C.IFLA_IFALIAS)));
  set('numTxQueues', A.readU32(attrs.get(C.IFLA_NUM_TX_QUEUES)));
  set('numRxQueues', A.readU32(attrs.get(C.IFLA_NUM_RX_QUEUES)));
  set('link', A.readU32(attrs.get(C.IFLA_LINK)));
  set('linkNetnsId', A.readS32(attrs.get(C.IFLA_LINK_NETNSID)));
  const info = attrs.get(C.IFLA_LINKINFO);
  if (info) {
    const li = A.decodeAttrs(info);
    set('kind', A.readStr(li.get(C.IFLA_INFO_KIND)));
    const data = li.get(C.IFLA_INFO_DATA);
    if (out.kind === 'netkit' && data) {
      const d = A.decodeAttrs(data);
      const mode = A.readU32(d.get(C.IFLA_NETKIT_MODE));
      const nk: NetkitState = {
        mode: mode === C.NETKIT_L3 ? 'l3' : mode === C.NETKIT_L2 ? 'l2' : mode ?? -1,
        attrTypes: [...d.keys()].sort((a, b) => a - b),
      };
      const hr = d.get(C.IFLA_NETKIT_HEADROOM);
      if (hr && hr.length >= 2) nk.headroom = hr.readUInt16LE(0);
      const tr = d.get(C.IFLA_NETKIT_TAILROOM);
      if (tr && tr.length >= 2) nk.tailroom = tr.readUInt16LE(0);
      const primary = A.readU8(d.get(C.IFLA_NETKIT_PRIMARY));
      if (primary !== undefined) nk.primary = primary !== 0;
      const pol = A.readS32(d.get(C.IFLA_NETKIT_POLICY));
      if (pol !== undefined) nk.policy = pol;
      const ppol = A.readS32(d.get(C.IFLA_NETKIT_PEER_POLICY));
      if (ppol !== undefined) nk.peerPolicy = ppol;
      const sc = A.readU32(d.get(C.IFLA_NETKIT_SCRUB));
      if (sc !== undefined) nk.scrub = sc;
      const psc = A.readU32(d.get(C.IFLA_NETKIT_PEER_SCRUB));
      if (psc !== undefined) nk.peerScrub = psc;
      out.netkit = nk;
    }
  }
  return out;
}

export interface AddrState {
  family: number;
  prefixLen: number;
  flags: number;
  scope: number;
  index: number;
  address?: Buffer;
  local?: Buffer;
}

// Parses an RTM_NEWADDR payload; IFA_FLAGS (32 bit) overrides the 8-bit flags.
export function parseAddr(msg: NlMessage): AddrState {
  const p = msg.payload;
  const attrs = A.decodeAttrs(p, C.IFADDRMSG_LEN);
  const out: AddrState = {
    family: p.readUInt8(0),
    prefixLen: p.readUInt8(1),
    flags: A.readU32(attrs.get(C.IFA_FLAGS)) ?? p.readUInt8(2),
    scope: p.readUInt8(3),
    index: p.readUInt32LE(4),
  };
  const a = attrs.get(C.IFA_ADDRESS);
  if (a) out.address = Buffer.from(a);
  const l = attrs.get(C.IFA_LOCAL);
  if (l) out.local = Buffer.from(l);
  return out;
}

export interface RouteState {
  family: number;
  dstLen: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  dst?: Buffer;
  oif?: number;
  gateway?: Buffer;
}

// Parses an RTM_NEWROUTE payload; RTA_TABLE overrides the 8-bit table.
export function parseRoute(msg: NlMessage): RouteState {
  const p = msg.payload;
  const attrs = A.decodeAttrs(p, C.RTMSG_LEN);
  const out: RouteState = {
    family: p.readUInt8(0),
    dstLen: p.readUInt8(1),
    table: A.readU32(attrs.get(C.RTA_TABLE)) ?? p.readUInt8(4),
    protocol: p.readUInt8(5),
    scope: p.readUInt8(6),
    type: p.readUInt8(7),
  };
  const dst = attrs.get(C.RTA_DST);
  if (dst) out.dst = Buffer.from(dst);
  const oif = A.readU32(attrs.get(C.RTA_OIF));
  if (oif !== undefined) out.oif = oif;
  const gw = attrs.get(C.RTA_GATEWAY);
  if (gw) out.gateway = Buffer.from(gw);
  return out;
}

export interface NetlinkErrorInfo {
  /** Positive errno; 0 is an ACK. */
  errno: number;
  /** The kernel's extended-ack text, when it sent one. */
  message?: string;
}

// Parses an NLMSG_ERROR payload: the error code and the extended ack text.
export function parseError(msg: NlMessage): NetlinkErrorInfo {
  const p = msg.payload;
  // A truncated error is still an error: EIO rather than a RangeError.
  if (p.length < 4) return { errno: 5, message: 'truncated netlink error message' };
  const errno = -p.readInt32LE(0);
  const out: NetlinkErrorInfo = { errno };
  if (msg.flags & C.NLM_F_ACK_TLVS && p.length >= 4 + C.NLMSG_HDRLEN) {
    // The original request follows: its header only when CAPPED, else all of it.
    const origLen = msg.flags & C.NLM_F_CAPPED ? C.NLMSG_HDRLEN : p.readUInt32LE(4);
    const tlvStart = 4 + A.align4(origLen);
    const tlvs = A.decodeAttrs(p, Math.min(tlvStart, p.length));
    const text = A.readStr(tlvs.get(C.NLMSGERR_ATTR_MSG));
    if (text) out.message = text;
  }
  return out;
}
