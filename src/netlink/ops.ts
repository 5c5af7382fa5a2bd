// Link, address and route operations over a NetlinkSocket: what the
// datapaths and tests call. "Already gone" is reported, not thrown, where
// teardown needs it.
import * as C from './constants';
import * as R from './rtnl';
import { EADDRNOTAVAIL, ENODEV, ENOENT, ESRCH, NetlinkError, NetlinkSocket } from './socket';

export const isGone = (err: unknown): boolean =>
  err instanceof NetlinkError && [ENODEV, ENOENT, ESRCH, EADDRNOTAVAIL].includes(err.errno ?? 0);

// Creates a pair in one request; throws NetlinkError (EOPNOTSUPP: kind unknown).
export function createPair(s: NetlinkSocket, req: R.NewPairRequest): void {
  s.request((seq) => R.newPair(req, seq), `create ${req.kind} pair ${req.name}/${req.peer.name}`);
}

// The link with this name or index, or undefined when there is none.
export function getLink(s: NetlinkSocket, ref: R.LinkRef): R.LinkState | undefined {
  try {
    const msgs = s.request((seq) => R.getLink(ref, seq), `get link ${'name' in ref ? ref.name : ref.index}`);
    const m = msgs.find((x) => x.type === C.RTM_NEWLINK);
    return m ? R.parseLink(m) : undefined;
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}

export function listLinks(s: NetlinkSocket): R.LinkState[] {
  return s.request((seq) => R.getLink(undefined, seq), 'dump links').filter((m) => m.type === C.RTM_NEWLINK).map(R.parseLink);
}

// Deletes a link; returns false when it was already gone.
export function deleteLink(s: NetlinkSocket, ref: R.LinkRef): boolean {
  try {
    s.request((seq) => R.delLink(ref, seq), `delete link ${'name' in ref ? ref.name : ref.index}`);
    return true;
  } catch (err) {
    if (isGone(err)) return false;
    throw err;
  }
}

export function setLink(s: NetlinkSocket, req: R.SetLinkRequest, name: string): void {
  s.request((seq) => R.setLink(req, seq), `configure link ${name}`);
}

export function addAddress(s: NetlinkSocket, req: R.AddrRequest, what: string): void {
  s.request((seq) => R.addr('new', req, seq), `add address ${what}`);
}

export function listAddresses(s: NetlinkSocket, family = C.AF_UNSPEC): R.AddrState[] {
  return s.request((seq) => R.dump('addr', family, seq), 'dump addresses').filter((m) => m.type === C.RTM_NEWADDR).map(R.parseAddr);
}

export function addRoute(s: NetlinkSocket, req: R.RouteRequest, what: string): void {
  s.request((seq) => R.route('new', req, seq), `add route ${what}`);
}

// Deletes a route; returns false when it was already gone.
export function deleteRoute(s: NetlinkSocket, req: R.RouteRequest, what: string): boolean {
  try {
    s.request((seq) => R.route('del', req, seq), `delete route ${what}`);
    return true;
  } catch (err) {
    if (isGone(err)) return false;
    throw err;
  }
}

export function listRoutes(s: NetlinkSocket, family = C.AF_UNSPEC): R.RouteState[] {
  return s.request((seq) => R.dump('route', family, seq), 'dump routes').filter((m) => m.type === C.RTM_NEWROUTE).map(R.parseRoute);
}

// The device traffic to the outside leaves by (the route to a documentation
// address, IPv4 then IPv6: `ip route get 192.0.2.1`), or undefined when there
// is none. One lookup, not a dump: its cost does not grow with the number of
// container routes.
export function defaultRouteDevice(s: NetlinkSocket): string | undefined {
  const probes: Array<[number, Buffer]> = [
    [C.AF_INET, Buffer.from([192, 0, 2, 1])],
    [C.AF_INET6, Buffer.from('20010db8000000000000000000000001', 'hex')],
  ];
  for (const [family, dst] of probes) {
    try {
      const m = s.request((seq) => R.routeGet(family, dst, seq), 'look up the route to the outside').find((x) => x.type === C.RTM_NEWROUTE);
      const oif = m ? R.parseRoute(m).oif : undefined;
      if (oif) return getLink(s, { index: oif })?.name;
    } catch (err) {
      if (!(err instanceof NetlinkError)) throw err; // ENETUNREACH: no route
    }
  }
  return undefined;
}
