// nkit's exact encoding of each request kind, written out by hand from the
// uapi layouts: nlmsghdr (len u32, type u16, flags u16, seq u32, pid u32),
// ifinfomsg 16, ifaddrmsg 8, rtmsg 12, NLA header (len u16, type u16) and
// payload padded to 4. Little-endian host; addresses in network order.
import t from 'tap';
import * as C from '../../src/netlink/constants';
import * as R from '../../src/netlink/rtnl';

const SEQ = 0x01020304;
const hx = (...parts: string[]): string => parts.join('').replace(/\s+/g, '');
// nlmsghdr with seq SEQ and pid 0.
const hdr = (len: number, type: number, flags: number): string => {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(SEQ, 8);
  return b.toString('hex');
};
const IFINFO0 = '00'.repeat(16);
const V4 = Buffer.from([10, 213, 0, 2]);
const V6 = Buffer.from('fd6e6b69007400000000000000000002', 'hex');

t.test('nlmsghdr fields by hand', async (t) => {
  const m = R.delLink({ index: 3 }, SEQ);
  t.equal(m.subarray(0, 16).toString('hex'), '20000000' + '1100' + '0500' + '04030201' + '00000000');
});

t.test('netkit pair', async (t) => {
  const m = R.newPair({
    kind: 'netkit', name: 'nk0', peer: { name: 'eth0', netnsFd: 7 },
    netkit: { mode: 'l3', policy: C.NETKIT_DROP, peerPolicy: C.NETKIT_DROP, scrub: C.NETKIT_SCRUB_NONE, peerScrub: C.NETKIT_SCRUB_DEFAULT },
  }, SEQ);
  t.equal(m.toString('hex'), hx(
    hdr(140, 16, 0x605), IFINFO0,
    '0800 0300 6e6b3000',                       // IFLA_IFNAME "nk0"
    '6400 1280',                                // IFLA_LINKINFO | NESTED, 100
    '0b00 0100 6e65746b697400 00',              //   IFLA_INFO_KIND "netkit", 11 + pad
    '5400 0280',                                //   IFLA_INFO_DATA | NESTED, 84
    '2800 0180', IFINFO0,                       //     PEER_INFO | NESTED, 40: ifinfomsg
    '0900 0300 6574683000 000000',              //       IFLA_IFNAME "eth0", 9 + pad
    '0800 1c00 07000000',                       //       IFLA_NET_NS_FD 7
    '0800 0500 01000000',                       //     MODE L3
    '0800 0300 02000000',                       //     POLICY DROP
    '0800 0400 02000000',                       //     PEER_POLICY DROP
    '0800 0600 00000000',                       //     SCRUB NONE
    '0800 0700 01000000',                       //     PEER_SCRUB DEFAULT
  ));
});

t.test('netkit l2 with forward policies and no scrub support', async (t) => {
  const m = R.newPair({
    kind: 'netkit', name: 'nk0', peer: { name: 'eth0', netnsFd: 7 },
    netkit: { mode: 'l2', policy: C.NETKIT_PASS, peerPolicy: C.NETKIT_PASS },
  }, SEQ);
  t.equal(m.subarray(m.length - 24).toString('hex'), hx('0800 0500 00000000', '0800 0300 00000000', '0800 0400 00000000'),
    'MODE L2, PASS, PASS, and no SCRUB attributes at the end');
  t.equal(m.readUInt32LE(0), 124);
  t.throws(() => R.newPair({ kind: 'netkit', name: 'x', peer: { name: 'eth0', netnsFd: 1 } }, 1), TypeError);
});

t.test('veth pair with MAC, MTU and queues', async (t) => {
  const m = R.newPair({
    kind: 'veth', name: 'vh0', address: Buffer.from('021122334455', 'hex'), mtu: 1500,
    peer: { name: 'eth0', netnsFd: 5, mtu: 1500, numTxQueues: 2, numRxQueues: 2 },
  }, SEQ);
  t.equal(m.toString('hex'), hx(
    hdr(144, 16, 0x605), IFINFO0,
    '0800 0300 76683000',                       // IFLA_IFNAME "vh0"
    '0a00 0100 021122334455 0000',              // IFLA_ADDRESS, 10 + pad
    '0800 0400 dc050000',                       // IFLA_MTU 1500
    '5400 1280',                                // IFLA_LINKINFO, 84
    '0900 0100 7665746800 000000',              //   KIND "veth"
    '4400 0280',                                //   INFO_DATA, 68
    '4000 0180', IFINFO0,                       //     VETH_INFO_PEER, 64
    '0900 0300 6574683000 000000',              //       IFNAME "eth0"
    '0800 1c00 05000000',                       //       NET_NS_FD 5
    '0800 0400 dc050000',                       //       MTU
    '0800 1f00 02000000',                       //       NUM_TX_QUEUES
    '0800 2000 02000000',                       //       NUM_RX_QUEUES
  ));
});

t.test('link delete, get, set', async (t) => {
  t.equal(R.delLink({ name: 'vA' }, SEQ).toString('hex'), hx(hdr(40, 17, 0x5), IFINFO0, '0700 0300 764100 00'));
  t.equal(R.delLink({ index: 0x0102 }, SEQ).toString('hex'), hx(hdr(32, 17, 0x5), '00000000 02010000 00000000 00000000'));
  t.equal(R.getLink(undefined, SEQ).toString('hex'), hx(hdr(32, 18, 0x301), IFINFO0), 'dump');
  t.equal(R.getLink({ name: 'eth0' }, SEQ).toString('hex'), hx(hdr(44, 18, 0x1), IFINFO0, '0900 0300 6574683000 000000'));
  t.equal(R.setLink({ index: 9, up: true, mtu: 9000, alias: 'nkit' }, SEQ).toString('hex'), hx(
    hdr(52, 16, 0x5),
    '00 00 0000 09000000 01000000 01000000',    // index 9, flags IFF_UP, change IFF_UP
    '0800 0400 28230000',                       // IFLA_MTU 9000
    '0900 1400 6e6b697400 000000',              // IFLA_IFALIAS "nkit"
  ));
  t.equal(R.setLink({ index: 9, up: false }, SEQ).subarray(16).toString('hex'), '00000000090000000000000001000000', 'down: flags 0, change IFF_UP');
  t.equal(R.setLink({ index: 9 }, SEQ).subarray(16).toString('hex'), '00000000090000000000000000000000', 'no flag change');
});

t.test('addresses', async (t) => {
  t.equal(R.addr('new', { index: 3, family: C.AF_INET, address: V4, prefixLen: 24 }, SEQ).toString('hex'), hx(
    hdr(40, 20, 0x605),
    '02 18 00 00 03000000',                     // AF_INET, /24, flags 0, scope universe, ifindex 3
    '0800 0200 0ad50002',                       // IFA_LOCAL
    '0800 0100 0ad50002',                       // IFA_ADDRESS
  ));
  t.equal(R.addr('new', { index: 3, family: C.AF_INET6, address: V6, prefixLen: 64, flags: C.IFA_F_NODAD }, SEQ).toString('hex'), hx(
    hdr(72, 20, 0x605),
    '0a 40 02 00 03000000',
    '1400 0200', V6.toString('hex'),
    '1400 0100', V6.toString('hex'),
    '0800 0800 02000000',                       // IFA_FLAGS NODAD
  ));
  const wide = R.addr('del', { index: 3, family: C.AF_INET6, address: V6, prefixLen: 128, flags: C.IFA_F_PERMANENT | C.IFA_F_NOPREFIXROUTE, scope: C.RT_SCOPE_LINK }, SEQ);
  t.equal(wide.subarray(0, 24).toString('hex'), hx(hdr(72, 21, 0x5), '0a 80 80 fd 03000000'), 'del: no CREATE|EXCL; low 8 flag bits in header');
  t.equal(wide.subarray(64).toString('hex'), '0800080080020000', 'IFA_FLAGS carries all 32 bits');
  t.equal(R.dump('addr', C.AF_INET6, SEQ).toString('hex'), hx(hdr(24, 22, 0x301), '0a00000000000000'));
});

t.test('routes', async (t) => {
  t.equal(R.route('new', { family: C.AF_INET, dst: null, dstLen: 0, oif: 3, scope: C.RT_SCOPE_UNIVERSE }, SEQ).toString('hex'), hx(
    hdr(36, 24, 0x605),
    '02 00 00 00 fe 04 00 01 00000000',         // AF_INET, /0, src 0, tos 0, main, static, universe, unicast, flags
    '0800 0400 03000000',                       // RTA_OIF 3
  ));
  t.equal(R.route('new', { family: C.AF_INET, dst: V4, dstLen: 32, oif: 3, scope: C.RT_SCOPE_LINK }, SEQ).toString('hex'), hx(
    hdr(44, 24, 0x605), '02 20 00 00 fe 04 fd 01 00000000', '0800 0100 0ad50002', '0800 0400 03000000',
  ));
  t.equal(R.route('del', { family: C.AF_INET6, dst: V6, dstLen: 128, oif: 7, scope: C.RT_SCOPE_LINK, table: 1000 }, SEQ).toString('hex'), hx(
    hdr(64, 25, 0x5),
    '0a 80 00 00 00 04 fd 01 00000000',         // table 1000 does not fit: RT_TABLE_UNSPEC here...
    '1400 0100', V6.toString('hex'),
    '0800 0400 07000000',
    '0800 0f00 e8030000',                       // ...and RTA_TABLE 1000
  ));
  t.equal(R.dump('route', C.AF_INET, SEQ).toString('hex'), hx(hdr(28, 26, 0x301), '02' + '00'.repeat(11)));
});
