// Netlink attribute (TLV) encoding and decoding: 4-byte header (length
// including header, type), payload, padding to 4 bytes.
import { NLA_F_NESTED, NLA_TYPE_MASK } from './constants';

// An attribute to encode: raw bytes or nested attributes, optionally with a
// fixed header before the nested ones (netkit/veth peer info carries an ifinfomsg).
export interface AttrSpec {
  type: number;
  value: Buffer | AttrSpec[];
  header?: Buffer;
}

export const align4 = (n: number): number => (n + 3) & ~3;

// Encodes a list of attributes into one buffer, nested ones flagged NLA_F_NESTED.
export function encodeAttrs(attrs: readonly AttrSpec[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const nested = Array.isArray(a.value);
    const body = nested
      ? Buffer.concat([a.header ?? Buffer.alloc(0), encodeAttrs(a.value as AttrSpec[])])
      : (a.value as Buffer);
    const len = 4 + body.length;
    const out = Buffer.alloc(align4(len));
    out.writeUInt16LE(len, 0);
    out.writeUInt16LE(a.type | (nested ? NLA_F_NESTED : 0), 2);
    body.copy(out, 4);
    parts.push(out);
  }
  return Buffer.concat(parts);
}

export const u8 = (type: number, v: number): AttrSpec => ({ type, value: Buffer.from([v & 0xff]) });
export function u16(type: number, v: number): AttrSpec {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return { type, value: b };
}
export function u32(type: number, v: number): AttrSpec {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return { type, value: b };
}
export function s32(type: number, v: number): AttrSpec {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return { type, value: b };
}
// A NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND, ...).
export const str = (type: number, v: string): AttrSpec => ({ type, value: Buffer.from(v + '\0', 'utf8') });
export const bytes = (type: number, v: Buffer): AttrSpec => ({ type, value: v });
export const nest = (type: number, children: AttrSpec[], header?: Buffer): AttrSpec =>
  header ? { type, value: children, header } : { type, value: children };

// Decodes attributes in buf[start, end) into type -> payload (flags stripped;
// the last one wins for repeated types, as the kernel's nla_parse does).
export function decodeAttrs(buf: Buffer, start = 0, end = buf.length): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = start;
  while (off + 4 <= end) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < 4 || off + len > end) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

// Reads a NUL-terminated string payload.
export function readStr(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}
export const readU32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readUInt32LE(0) : undefined);
export const readS32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readInt32LE(0) : undefined);
export const readU8 = (b: Buffer | undefined): number | undefined => (b && b.length >= 1 ? b.readUInt8(0) : undefined);
