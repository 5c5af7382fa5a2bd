// Address leases under <runDir>/ipam/<network>/: one file per leased address
// holding the owner's id. A lease is made complete (written, fsynced) under a
// temporary name and then hard-linked to its final name, which fails if the
// address is taken: a crash leaves either a whole lease or none. A flock
// serialises allocators of one network.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NkitError } from '../errors';
import { faultPoint } from '../lifecycle/fault';
import { withLock } from '../lifecycle/lock';
import { Family, Prefix, formatAddress, formatPrefix, parseAddress, prefixSize } from './cidr';
import { ensureDir } from '../dirs';

export interface Lease {
  family: Family;
  address: string;
  prefixLen: number;
  /** The network's first address, which the host side carries. */
  gateway: string;
}

export interface IpamOptions {
  runDir: string;
  network: string;
  lockTimeoutMs?: number;
}

const LOCK_TIMEOUT_MS = 10_000;
const TMP_PREFIX = '.tmp-';

const dirOf = (o: IpamOptions): string => path.join(o.runDir, 'ipam', o.network);

// The gateway (first address) of a subnet.
export const gatewayOf = (p: Prefix): string => formatAddress(p.family, p.network + 1n);

// Allocates one address per subnet for id. All or nothing: if one family
// fails, the leases already made are released.
export function allocate(o: IpamOptions, id: string, subnets: Prefix[]): Lease[] {
  const dir = dirOf(o);
  return withLock(path.join(dir, '.lock'), o.lockTimeoutMs ?? LOCK_TIMEOUT_MS, `allocate addresses for ${id}`, () => {
    const taken = new Set(listLeaseNames(dir));
    removeTemporaries(dir);
    const made: Lease[] = [];
    try {
      for (const p of subnets) {
        const lease = claimLowestFree(dir, id, p, taken);
        made.push(lease);
        faultPoint('ipam-after-lease');
      }
      fsyncDir(dir);
      return made;
    } catch (err) {
      for (const l of made) unlinkIfOwned(dir, l.address, id);
      throw err;
    }
  });
}

function claimLowestFree(dir: string, id: string, p: Prefix, taken: Set<string>): Lease {
  const size = prefixSize(p);
  // Skip the network address and the gateway; for IPv4 also the broadcast.
  const last = p.family === 4 ? size - 2n : size - 1n;
  for (let off = 2n; off <= last; off++) {
    const address = formatAddress(p.family, p.network + off);
    if (taken.has(address)) continue;
    if (writeLease(dir, address, id)) {
      taken.add(address);
      return { family: p.family, address, prefixLen: p.prefixLen, gateway: formatAddress(p.family, p.network + 1n) };
    }
    taken.add(address);
  }
  throw new NkitError('EIPAM', `no free IPv${p.family} address in ${formatPrefix(p)} for container ${id} (${taken.size} leased in this network)`, {
    hint: 'stop unused containers, run `nkit gc`, or give the network a larger subnet',
  });
}

// Creates the lease file atomically; false when the address is already leased.
function writeLease(dir: string, address: string, id: string): boolean {
  ensureDir(dir, 'address lease');
  const tmp = path.join(dir, `${TMP_PREFIX}${process.pid}-${address}`);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, `${id}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, path.join(dir, address));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

// Releases the given addresses if (and only if) id holds them; returns the
// ones released. Missing leases are fine: release is idempotent.
export function release(o: IpamOptions, id: string, addresses: string[]): string[] {
  const dir = dirOf(o);
  if (!fs.existsSync(dir)) return [];
  return withLock(path.join(dir, '.lock'), o.lockTimeoutMs ?? LOCK_TIMEOUT_MS, `release addresses of ${id}`, () => {
    const done = addresses.filter((a) => unlinkIfOwned(dir, a, id));
    if (done.length) fsyncDir(dir);
    return done;
  });
}

function unlinkIfOwned(dir: string, address: string, id: string): boolean {
  // The address names a file: only accept what we would have written.
  const canonical = formatAddress(parseAddress(address).family, parseAddress(address).value);
  const file = path.join(dir, canonical);
  let owner: string;
  try {
    owner = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return false;
  }
  if (owner !== id) return false;
  fs.rmSync(file, { force: true });
  return true;
}

// Every lease of the network: address -> owner id.
export function listLeases(o: IpamOptions): Map<string, string> {
  const dir = dirOf(o);
  const out = new Map<string, string>();
  for (const name of listLeaseNames(dir)) {
    try {
      out.set(name, fs.readFileSync(path.join(dir, name), 'utf8').trim());
    } catch {
      // released while we read: not a lease any more
    }
  }
  return out;
}

function listLeaseNames(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((n) => !n.startsWith('.'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

// Temporaries are only written under the lock, which we hold: any left are
// from a writer that died.
function removeTemporaries(dir: string): void {
  try {
    for (const n of fs.readdirSync(dir)) if (n.startsWith(TMP_PREFIX)) fs.rmSync(path.join(dir, n), { force: true });
  } catch {
    // no directory yet
  }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
