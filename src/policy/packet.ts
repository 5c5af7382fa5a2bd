// Crafted packets for BPF_PROG_TEST_RUN (`nkit policy test`, tests,
// benchmarks): ethernet + IPv4/IPv6 + TCP/UDP/ICMP with valid lengths
// (checksums are not checked by the policy).
import { addressBytes, parseAddress } from '../ipam/cidr';

export type Proto = 'tcp' | 'udp' | 'icmp';

export interface PacketSpec {
  src: string;
  dst: string;
  proto: Proto;
  sport?: number;
  dport?: number;
  /** TCP flags byte (default SYN). */
  tcpFlags?: number;
  /** ICMP type (default echo request). */
  icmpType?: number;
  /** ICMP echo id. */
  icmpId?: number;
  payload?: number;
}

const ETH_HLEN = 14;
const bytesOf = (a: string): Buffer => {
  const p = parseAddress(a);
  return addressBytes(p.family, p.value);
};

function l4(spec: PacketSpec, v6: boolean): { proto: number; bytes: Buffer } {
  const payload = Buffer.alloc(spec.payload ?? 16, 0xab);
  if (spec.proto === 'icmp') {
    const h = Buffer.alloc(8);
    h[0] = spec.icmpType ?? (v6 ? 128 : 8); // echo request
    h.writeUInt16BE(spec.icmpId ?? 0x4e4b, 4);
    return { proto: v6 ? 58 : 1, bytes: Buffer.concat([h, payload]) };
  }
  if (spec.proto === 'udp') {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(spec.sport ?? 40000, 0);
    h.writeUInt16BE(spec.dport ?? 53, 2);
    h.writeUInt16BE(8 + payload.length, 4);
    return { proto: 17, bytes: Buffer.concat([h, payload]) };
  }
  const h = Buffer.alloc(20);
  h.writeUInt16BE(spec.sport ?? 40000, 0);
  h.writeUInt16BE(spec.dport ?? 80, 2);
  h[12] = 5 << 4;
  h[13] = spec.tcpFlags ?? 0x02;
  h.writeUInt16BE(65535, 14);
  return { proto: 6, bytes: Buffer.concat([h, payload]) };
}

// An IP packet (no L2 header), as a netkit l3 device carries it.
export function ipPacket(spec: PacketSpec): Buffer {
  const v6 = spec.src.includes(':');
  const { proto, bytes } = l4(spec, v6);
  if (v6) {
    const h = Buffer.alloc(40);
    h.writeUInt32BE(0x60000000, 0);
    h.writeUInt16BE(bytes.length, 4);
    h[6] = proto;
    h[7] = 64;
    bytesOf(spec.src).copy(h, 8);
    bytesOf(spec.dst).copy(h, 24);
    return Buffer.concat([h, bytes]);
  }
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + bytes.length, 2);
  h[8] = 64;
  h[9] = proto;
  bytesOf(spec.src).copy(h, 12);
  bytesOf(spec.dst).copy(h, 16);
  return Buffer.concat([h, bytes]);
}

// An ethernet frame around an IP packet (what tc programs see on veth).
export function ethFrame(spec: PacketSpec): Buffer {
  const ip = ipPacket(spec);
  const eth = Buffer.alloc(ETH_HLEN);
  eth.fill(0x02, 0, 12);
  eth.writeUInt16BE(spec.src.includes(':') ? 0x86dd : 0x0800, 12);
  return Buffer.concat([eth, ip]);
}

// An ARP request frame (who-has target tell sender).
export function arpFrame(sender: string, target: string): Buffer {
  const f = Buffer.alloc(ETH_HLEN + 28);
  f.fill(0xff, 0, 6);
  f.fill(0x02, 6, 12);
  f.writeUInt16BE(0x0806, 12);
  f.writeUInt16BE(1, 14);
  f.writeUInt16BE(0x0800, 16);
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(1, 20);
  bytesOf(sender).copy(f, 28);
  bytesOf(target).copy(f, 38);
  return f;
}
