// The connections a container has open, as connection-table entries.
//
// Under allow-all the program tracks nothing (everything passes both ways,
// and the table is most of a packet's cost). When a policy with rules
// replaces it, the connections opened meanwhile must keep their replies:
// a container waiting for an answer sends nothing that could open the
// entry again. So `nkit policy apply` lists the container's sockets and
// writes one entry per connection before the flip (and once more after it,
// for connections opened during the apply). Each entry carries the old
// policy's generation: the connection's next packet the way it was opened
// meets the new rules, which keep it or end it, exactly as for a
// connection the program saw open.
import * as abi from '../bpf/abi';
import { InetSocket, TCP_CLOSE, TCP_LISTEN, TCP_SYN_RECV, TCP_TIME_WAIT } from '../netlink/sockdiag';

export interface SeedFlow extends abi.CtFlow {
  /** abi.DIR_EGRESS: the container opened it; DIR_INGRESS: the remote did. */
  dir: number;
}

export interface OwnAddresses {
  addr4?: Buffer;
  addr6?: Buffer;
}

const V4_MAPPED = Buffer.from('00000000000000000000ffff', 'hex');

// An IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) as IPv4.
function normalize(family: 4 | 6, a: Buffer): { family: 4 | 6; addr: Buffer } {
  if (family === 6 && a.length === 16 && a.subarray(0, 12).equals(V4_MAPPED)) return { family: 4, addr: a.subarray(12) };
  return { family, addr: a };
}

const isZero = (a: Buffer): boolean => a.every((b) => b === 0);

// The container's connections through eth0, with who opened each: a
// connection whose local port has a listening (TCP) or an unconnected (UDP)
// socket on the same address or the wildcard was opened by the remote.
// Sockets on other addresses (loopback, link-local), listeners, unconnected
// UDP sockets and TIME_WAIT leftovers are not connections to keep.
export function flowsOfSockets(socks: InetSocket[], own: OwnAddresses): SeedFlow[] {
  const servers = new Set<string>();
  const key = (proto: string, family: number, addr: Buffer | 'any', port: number): string => `${proto}/${family}/${addr === 'any' ? '*' : addr.toString('hex')}/${port}`;
  for (const s of socks) {
    const server = s.proto === 'tcp' ? s.state === TCP_LISTEN : s.state === TCP_CLOSE && s.sport !== 0;
    if (!server) continue;
    if (isZero(s.src)) {
      // An IPv6 wildcard serves IPv4 too unless the socket is v6-only; count it for both.
      servers.add(key(s.proto, 4, 'any', s.sport));
      if (s.family === 6) servers.add(key(s.proto, 6, 'any', s.sport));
    } else {
      const n = normalize(s.family, s.src);
      servers.add(key(s.proto, n.family, n.addr, s.sport));
    }
  }
  const out: SeedFlow[] = [];
  const seen = new Set<string>();
  for (const s of socks) {
    if (s.proto === 'tcp' ? s.state === TCP_LISTEN || s.state === TCP_TIME_WAIT || s.state === TCP_CLOSE : s.state === TCP_CLOSE) continue;
    if (s.dport === 0 || isZero(s.dst)) continue;
    const local = normalize(s.family, s.src);
    const remote = normalize(s.family, s.dst);
    const mine = local.family === 4 ? own.addr4 : own.addr6;
    if (!mine || !local.addr.equals(mine) || remote.family !== local.family) continue;
    const byRemote =
      (s.proto === 'tcp' && s.state === TCP_SYN_RECV) ||
      servers.has(key(s.proto, local.family, 'any', s.sport)) ||
      servers.has(key(s.proto, local.family, local.addr, s.sport));
    const flow: SeedFlow = {
      family: local.family,
      proto: s.proto === 'tcp' ? 6 : 17,
      caddr: Buffer.from(local.addr),
      cport: s.sport,
      raddr: Buffer.from(remote.addr),
      rport: s.dport,
      dir: byRemote ? abi.DIR_INGRESS : abi.DIR_EGRESS,
    };
    const k = abi.encodeCtKey(flow).toString('hex');
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(flow);
  }
  return out;
}
