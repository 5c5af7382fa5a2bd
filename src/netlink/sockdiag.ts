// The TCP and UDP sockets of a network namespace, from NETLINK_SOCK_DIAG
// (what `ss` reads): request and answer codecs, and the dump itself.
import { NkitError } from '../errors';
import { AF_INET, AF_INET6, NLM_F_DUMP, NLM_F_REQUEST } from './constants';
import { frame } from './message';
import { NetlinkSocket } from './socket';

export const NETLINK_SOCK_DIAG = 4;
export const SOCK_DIAG_BY_FAMILY = 20;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const REQ_SIZE = 56; // struct inet_diag_req_v2
const MSG_SIZE = 72; // struct inet_diag_msg

// TCP states (include/net/tcp_states.h); UDP uses ESTABLISHED (connected)
// and CLOSE (not connected).
export const TCP_ESTABLISHED = 1;
export const TCP_SYN_SENT = 2;
export const TCP_SYN_RECV = 3;
export const TCP_TIME_WAIT = 6;
export const TCP_CLOSE = 7;
export const TCP_LISTEN = 10;

export interface InetSocket {
  family: 4 | 6;
  proto: 'tcp' | 'udp';
  state: number;
  /** Local address and port (4 or 16 bytes; IPv4-mapped IPv6 stays IPv6 here). */
  src: Buffer;
  sport: number;
  /** Remote address and port (all zero when not connected). */
  dst: Buffer;
  dport: number;
}

// SOCK_DIAG_BY_FAMILY dump request for every socket of one family and protocol.
export function sockDiagRequest(seq: number, family: 4 | 6, proto: 'tcp' | 'udp'): Buffer {
  const req = Buffer.alloc(REQ_SIZE);
  req[0] = family === 4 ? AF_INET : AF_INET6;
  req[1] = proto === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP;
  req.writeUInt32LE(0xffffffff, 4); // idiag_states: all
  return frame(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, req);
}

// One struct inet_diag_msg; undefined for a message too short or of another family.
export function parseInetDiagMsg(payload: Buffer, proto: 'tcp' | 'udp'): InetSocket | undefined {
  if (payload.length < MSG_SIZE) return undefined;
  const fam = payload[0] === AF_INET ? 4 : payload[0] === AF_INET6 ? 6 : 0;
  if (fam === 0) return undefined;
  const alen = fam === 4 ? 4 : 16;
  return {
    family: fam,
    proto,
    state: payload[1]!,
    sport: payload.readUInt16BE(4),
    dport: payload.readUInt16BE(6),
    src: Buffer.from(payload.subarray(8, 8 + alen)),
    dst: Buffer.from(payload.subarray(24, 24 + alen)),
  };
}

// Every TCP and UDP socket (IPv4 and IPv6) of the namespace nsFd names.
export function dumpInetSockets(nsFd: number): InetSocket[] {
  let s: NetlinkSocket;
  try {
    s = NetlinkSocket.open(nsFd, NETLINK_SOCK_DIAG);
  } catch (err) {
    throw new NkitError('EKERNEL', `open a sock_diag socket: ${(err as Error).message}`, { cause: err });
  }
  try {
    const out: InetSocket[] = [];
    for (const proto of ['tcp', 'udp'] as const) {
      for (const family of [4, 6] as const) {
        for (const m of s.request((seq) => sockDiagRequest(seq, family, proto), `list the ${proto} sockets (IPv${family})`)) {
          if (m.type !== SOCK_DIAG_BY_FAMILY) continue;
          const sock = parseInetDiagMsg(m.payload, proto);
          if (sock) out.push(sock);
        }
      }
    }
    return out;
  } finally {
    s.close();
  }
}
