// A minimal pcapng writer (what tcpdump -r and Wireshark read): one
// section, one ethernet interface, enhanced packet blocks with a comment
// each, which is where nkit says what the policy did with the packet.
const LINKTYPE_ETHERNET = 1;
const OPT_COMMENT = 1;
const OPT_END = 0;

const pad4 = (n: number): number => (n + 3) & ~3;

function block(type: number, body: Buffer): Buffer {
  const total = 12 + body.length;
  const b = Buffer.alloc(total);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(total, 4);
  body.copy(b, 8);
  b.writeUInt32LE(total, total - 4);
  return b;
}

function option(code: number, value: Buffer): Buffer {
  const b = Buffer.alloc(4 + pad4(value.length));
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(value.length, 2);
  value.copy(b, 4);
  return b;
}

// Section header + interface description: the start of every file.
export function pcapngHeader(snaplen: number, ifName: string): Buffer {
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0); // byte-order magic
  shb.writeUInt16LE(1, 4);
  shb.writeUInt16LE(0, 6);
  shb.writeBigInt64LE(-1n, 8); // section length unknown
  const idb = Buffer.alloc(8);
  idb.writeUInt16LE(LINKTYPE_ETHERNET, 0);
  idb.writeUInt32LE(snaplen, 4);
  const opts = Buffer.concat([option(2 /* if_name */, Buffer.from(ifName)), option(OPT_END, Buffer.alloc(0))]);
  return Buffer.concat([block(0x0a0d0d0a, shb), block(0x00000001, Buffer.concat([idb, opts]))]);
}

// One enhanced packet block: microsecond timestamp, captured bytes, the
// length on the wire, and a comment.
export function pcapngPacket(tsMicros: bigint, data: Buffer, origLen: number, comment: string): Buffer {
  const head = Buffer.alloc(20);
  head.writeUInt32LE(0, 0); // interface 0
  head.writeUInt32LE(Number(tsMicros >> 32n), 4);
  head.writeUInt32LE(Number(tsMicros & 0xffffffffn), 8);
  head.writeUInt32LE(data.length, 12);
  head.writeUInt32LE(origLen, 16);
  const padded = Buffer.alloc(pad4(data.length));
  data.copy(padded);
  const opts = Buffer.concat([option(OPT_COMMENT, Buffer.from(comment)), option(OPT_END, Buffer.alloc(0))]);
  return block(0x00000006, Buffer.concat([head, padded, opts]));
}
