// A request/response rtnetlink socket over the addon's raw fd, optionally
// opened inside another network namespace.
import { addon } from '../native';
import { NkitError } from '../errors';
import * as C from './constants';
import { NlMessage, splitMessages } from './message';
import { parseError } from './rtnl';

const RECV_TIMEOUT_MS = 5000;

export interface NetlinkErrorDetails {
  errno: number;
  extack?: string;
}

// Thrown when the kernel answers a request with an error.
export class NetlinkError extends NkitError {
  readonly extack?: string;
  constructor(what: string, info: NetlinkErrorDetails) {
    const reason = info.extack ? `${errnoText(info.errno)} (${info.extack})` : errnoText(info.errno);
    super('EKERNEL', `${what}: ${reason}`, { errno: info.errno, syscall: 'netlink' });
    if (info.extack !== undefined) this.extack = info.extack;
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL',
  34: 'ERANGE', 95: 'EOPNOTSUPP', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL', 105: 'ENOBUFS',
};
export function errnoText(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

export const ENOENT = 2;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EOPNOTSUPP = 95;
export const EADDRNOTAVAIL = 99;
export const ESRCH = 3;

// One rtnetlink socket; requests are synchronous and strictly sequential.
export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private fd: number;

  private constructor(fd: number) {
    this.fd = fd;
  }

  // Opens a socket in the namespace of nsFd (the caller's own when
  // omitted); rtnetlink unless another netlink protocol is named.
  static open(nsFd = -1, protocol = C.NETLINK_ROUTE): NetlinkSocket {
    return new NetlinkSocket(addon().netlinkOpen(nsFd, protocol));
  }

  // Sends build(seq) and collects the answer: for a dump every message up
  // to NLMSG_DONE, otherwise the data messages before the ACK. `what` names
  // the operation and object for the error message.
  request(build: (seq: number) => Buffer, what: string): NlMessage[] {
    if (this.fd < 0) throw new NkitError('EINTERNAL', `${what}: netlink socket already closed`);
    const seq = (this.seq = (this.seq + 1) & 0x7fffffff);
    const msg = build(seq);
    const isDump = (msg.readUInt16LE(6) & C.NLM_F_DUMP) === C.NLM_F_DUMP;
    const wantsAck = (msg.readUInt16LE(6) & C.NLM_F_ACK) !== 0;
    const a = addon();
    a.netlinkSend(this.fd, msg);
    const out: NlMessage[] = [];
    for (;;) {
      const datagram = a.netlinkRecv(this.fd, RECV_TIMEOUT_MS);
      for (const m of splitMessages(datagram)) {
        if (m.seq !== seq) continue; // a stale answer to an earlier request
        if (m.type === C.NLMSG_ERROR) {
          const e = parseError(m);
          if (e.errno !== 0) throw new NetlinkError(what, e.message ? { errno: e.errno, extack: e.message } : { errno: e.errno });
          return out;
        }
        if (m.type === C.NLMSG_DONE) {
          // A dump can end with an error code in NLMSG_DONE's payload.
          const code = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
          if (code > 0) throw new NetlinkError(what, { errno: code });
          return out;
        }
        if (m.type === C.NLMSG_NOOP) continue;
        out.push(m);
        if (!isDump && !wantsAck && !(m.flags & C.NLM_F_MULTI)) return out;
      }
    }
  }

  close(): void {
    if (this.fd >= 0) addon().closeFd(this.fd);
    this.fd = -1;
  }
}

// Runs fn with a socket in the given namespace and always closes it.
export function withNetlink<T>(nsFd: number, fn: (s: NetlinkSocket) => T): T {
  const s = NetlinkSocket.open(nsFd);
  try {
    return fn(s);
  } finally {
    s.close();
  }
}
