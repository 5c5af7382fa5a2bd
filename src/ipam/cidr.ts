// IPv4/IPv6 address and prefix arithmetic on bigints: parse, format
// (RFC 5952 for IPv6), and the n-th host of a subnet.
import { isIPv4, isIPv6 } from 'node:net';
import { NkitError } from '../errors';

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** The network address (host bits cleared). */
  network: bigint;
  prefixLen: number;
}

export const familyBits = (f: Family): number => (f === 4 ? 32 : 128);

// Parses one address; throws EINPUT naming the text when it is not one.
export function parseAddress(text: string): { family: Family; value: bigint } {
  if (isIPv4(text)) {
    const v = text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family: 4, value: v };
  }
  if (isIPv6(text) && !text.includes('.') && !text.includes('%')) {
    const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
    const h = head ? head.split(':') : [];
    const t = tail === undefined ? [] : tail ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const v = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
    return { family: 6, value: v };
  }
  throw new NkitError('EINPUT', `"${text}" is not an IPv4 or IPv6 address`);
}

// Parses "ADDR/LEN"; the host bits must be zero.
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/');
  if (slash < 0) throw new NkitError('EINPUT', `"${text}" is not a CIDR prefix (ADDR/LEN)`);
  const { family, value } = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const bits = familyBits(family);
  if (!/^(0|[1-9]\d{0,2})$/.test(lenText) || Number(lenText) > bits) {
    throw new NkitError('EINPUT', `"${text}": prefix length must be 0-${bits}`);
  }
  const prefixLen = Number(lenText);
  const hostMask = (1n << BigInt(bits - prefixLen)) - 1n;
  if ((value & hostMask) !== 0n) {
    throw new NkitError('EINPUT', `"${text}": host bits are set (did you mean ${formatAddress(family, value & ~hostMask)}/${prefixLen}?)`);
  }
  return { family, network: value, prefixLen };
}

// Formats an address: dotted quad, or RFC 5952 compressed lowercase IPv6.
export function formatAddress(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run (of at least two) of zero groups becomes "::", the first on ties.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

// The address as network-order bytes, for netlink and BPF maps.
export function addressBytes(family: Family, value: bigint): Buffer {
  const len = family === 4 ? 4 : 16;
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = Number((value >> BigInt(8 * (len - 1 - i))) & 0xffn);
  return b;
}

// Inverse of addressBytes.
export function bytesToAddress(b: Buffer): { family: Family; value: bigint } {
  if (b.length !== 4 && b.length !== 16) throw new NkitError('EINPUT', `an address has 4 or 16 bytes, not ${b.length}`);
  const family: Family = b.length === 4 ? 4 : 6;
  let v = 0n;
  for (const byte of b) v = (v << 8n) | BigInt(byte);
  return { family, value: v };
}

// The number of addresses in the prefix.
export const prefixSize = (p: Prefix): bigint => 1n << BigInt(familyBits(p.family) - p.prefixLen);

// True when the address lies inside the prefix.
export function contains(p: Prefix, family: Family, value: bigint): boolean {
  if (family !== p.family) return false;
  const shift = BigInt(familyBits(p.family) - p.prefixLen);
  return value >> shift === p.network >> shift;
}

export const formatPrefix = (p: Prefix): string => `${formatAddress(p.family, p.network)}/${p.prefixLen}`;
