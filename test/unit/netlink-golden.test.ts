// nkit's rtnetlink requests against what iproute2 6.15 sends for the same
// operation (test/fixtures/netlink, see its README for the commands).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import * as C from '../../src/netlink/constants';
import * as R from '../../src/netlink/rtnl';
import { repoRoot } from '../lib/paths';

const golden = (name: string): Buffer =>
  Buffer.from(readFileSync(join(repoRoot, 'test', 'fixtures', 'netlink', `${name}.hex`), 'utf8').trim(), 'hex');
const seqOf = (msg: Buffer): number => msg.readUInt32LE(8);

// Which attribute types are nested, by level, and how long a fixed header
// precedes their children. iproute2 never sets NLA_F_NESTED, so nesting has
// to be known, not read from the flag. String attributes are compared as
// text: ip sends IFLA_INFO_KIND without its NUL, nkit with one (the
// kernel's nla_strscpy takes both; netlink-bytes pins nkit's NULs).
interface Nesting { [type: number]: { header?: number; children?: Nesting; string?: true } }
const NAME: Nesting = { [C.IFLA_IFNAME]: { string: true } };
const LINK: Nesting = {
  ...NAME,
  [C.IFLA_LINKINFO]: {
    children: {
      [C.IFLA_INFO_KIND]: { string: true },
      // IFLA_NETKIT_PEER_INFO and VETH_INFO_PEER are both 1: ifinfomsg + IFLA_*.
      [C.IFLA_INFO_DATA]: { children: { [C.IFLA_NETKIT_PEER_INFO]: { header: C.IFINFOMSG_LEN, children: NAME } } },
    },
  },
};

type Tree = { [key: string]: string | Tree };
// Decodes attributes into { type: hex | subtree } (order and flags dropped),
// refusing duplicates and trailing garbage so nothing is silently lost.
function tree(buf: Buffer, start: number, end: number, nesting: Nesting): Tree {
  const out: Tree = {};
  let off = start;
  while (off < end) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & C.NLA_TYPE_MASK;
    if (len < 4 || off + len > end) throw new Error(`bad attribute at ${off}`);
    if (String(type) in out) throw new Error(`duplicate attribute ${type}`);
    const n = nesting[type];
    const payload = buf.subarray(off + 4, off + len);
    if (n?.string) {
      const nul = payload.indexOf(0);
      out[type] = `str:${payload.subarray(0, nul < 0 ? payload.length : nul).toString('utf8')}`;
    } else if (n?.children) {
      const sub = tree(buf, off + 4 + (n.header ?? 0), off + len, n.children);
      if (n.header) sub.header = buf.subarray(off + 4, off + 4 + n.header).toString('hex');
      out[type] = sub;
    } else {
      out[type] = payload.toString('hex');
    }
    off += (len + 3) & ~3;
  }
  return out;
}
const msgTree = (m: Buffer, familyLen: number, nesting: Nesting = {}): Tree => ({
  familyHeader: m.subarray(16, 16 + familyLen).toString('hex'),
  ...tree(m, 16 + familyLen, m.readUInt32LE(0), nesting),
});

// Every nested attribute nkit emits carries NLA_F_NESTED (what strict
// netlink validation expects; ip predates it).
function nestedFlags(buf: Buffer, start: number, end: number, nesting: Nesting, path = ''): string[] {
  const out: string[] = [];
  for (let off = start; off < end; ) {
    const len = buf.readUInt16LE(off);
    const raw = buf.readUInt16LE(off + 2);
    const n = nesting[raw & C.NLA_TYPE_MASK];
    if (n?.children) {
      out.push(`${path}${raw & C.NLA_TYPE_MASK}:${raw & C.NLA_F_NESTED ? 'nested' : 'FLAT'}`);
      out.push(...nestedFlags(buf, off + 4 + (n.header ?? 0), off + len, n.children, `${path}${raw & C.NLA_TYPE_MASK}/`));
    }
    off += (len + 3) & ~3;
  }
  return out;
}

t.test('netkit pair create: same nlmsghdr, ifinfomsg and attribute tree as ip', async (t) => {
  const ip = golden('netkit-newlink');
  const ours = R.newPair(
    {
      kind: 'netkit',
      name: 'nkA',
      peer: { name: 'eth0', netnsFd: 4 },
      netkit: { mode: 'l3', policy: C.NETKIT_DROP, peerPolicy: C.NETKIT_DROP, scrub: C.NETKIT_SCRUB_NONE, peerScrub: C.NETKIT_SCRUB_DEFAULT },
    },
    seqOf(ip),
  );
  t.equal(ours.length, ip.length, 'same length (140)');
  t.equal(ours.subarray(0, 32).toString('hex'), ip.subarray(0, 32).toString('hex'), 'nlmsghdr + ifinfomsg byte for byte');
  const theirs = msgTree(ip, C.IFINFOMSG_LEN, LINK);
  t.same(msgTree(ours, C.IFINFOMSG_LEN, LINK), theirs, 'attribute tree');
  // Spelled out, so a broken tree decoder cannot make both sides agree on nothing.
  t.same(theirs, {
    familyHeader: '00'.repeat(16),
    [C.IFLA_IFNAME]: 'str:nkA',
    [C.IFLA_LINKINFO]: {
      [C.IFLA_INFO_KIND]: 'str:netkit',
      [C.IFLA_INFO_DATA]: {
        [C.IFLA_NETKIT_MODE]: '01000000',
        [C.IFLA_NETKIT_POLICY]: '02000000',
        [C.IFLA_NETKIT_PEER_POLICY]: '02000000',
        [C.IFLA_NETKIT_SCRUB]: '00000000',
        [C.IFLA_NETKIT_PEER_SCRUB]: '01000000',
        [C.IFLA_NETKIT_PEER_INFO]: { header: '00'.repeat(16), [C.IFLA_NET_NS_FD]: '04000000', [C.IFLA_IFNAME]: 'str:eth0' },
      },
    },
  });
  t.same(nestedFlags(ours, 32, ours.length, LINK), ['18:nested', '18/2:nested', '18/2/1:nested']);
  t.same(nestedFlags(ip, 32, ip.length, LINK), ['18:FLAT', '18/2:FLAT', '18/2/1:FLAT'], 'ip does not flag nesting');
});

t.test('veth pair create: same attribute tree as ip', async (t) => {
  const ip = golden('veth-newlink');
  const ours = R.newPair({ kind: 'veth', name: 'vA', peer: { name: 'eth0', netnsFd: 4 } }, seqOf(ip));
  t.equal(ours.length, ip.length + 4, 'nkit\'s kind "veth\\0" pads to 12 bytes, ip\'s "veth" to 8');
  t.equal(ours.subarray(4, 32).toString('hex'), ip.subarray(4, 32).toString('hex'), 'nlmsghdr after len, ifinfomsg');
  const theirs = msgTree(ip, C.IFINFOMSG_LEN, LINK);
  t.same(msgTree(ours, C.IFINFOMSG_LEN, LINK), theirs);
  t.same(theirs, {
    familyHeader: '00'.repeat(16),
    [C.IFLA_IFNAME]: 'str:vA',
    [C.IFLA_LINKINFO]: {
      [C.IFLA_INFO_KIND]: 'str:veth',
      [C.IFLA_INFO_DATA]: { [C.VETH_INFO_PEER]: { header: '00'.repeat(16), [C.IFLA_NET_NS_FD]: '04000000', [C.IFLA_IFNAME]: 'str:eth0' } },
    },
  });
});

t.test('link delete by index: byte for byte', async (t) => {
  const ip = golden('dellink-index');
  t.equal(R.delLink({ index: 3 }, seqOf(ip)).toString('hex'), ip.toString('hex'));
});

t.test('IPv4 address add: byte for byte', async (t) => {
  const ip = golden('newaddr-v4');
  const ours = R.addr('new', { index: 3, family: C.AF_INET, address: Buffer.from([10, 213, 0, 2]), prefixLen: 24 }, seqOf(ip));
  t.equal(ours.toString('hex'), ip.toString('hex'));
});

t.test('IPv6 address add nodad: same as ip plus IFA_FLAGS', async (t) => {
  const ip = golden('newaddr-v6-nodad');
  const address = Buffer.from('fd6e6b69007400000000000000000002', 'hex');
  const ours = R.addr('new', { index: 3, family: C.AF_INET6, address, prefixLen: 64, flags: C.IFA_F_NODAD }, seqOf(ip));
  t.equal(ours.subarray(0, 16).toString('hex').slice(8), ip.subarray(0, 16).toString('hex').slice(8), 'type, flags, seq, pid');
  t.same(msgTree(ours, C.IFADDRMSG_LEN), { ...msgTree(ip, C.IFADDRMSG_LEN), [C.IFA_FLAGS]: '02000000' });
  t.equal(msgTree(ip, C.IFADDRMSG_LEN).familyHeader, '0a40020003000000', 'ip: AF_INET6, /64, NODAD, ifindex 3');
});

t.test('default route: byte for byte with ip\'s protocol and zero RTA_DST', async (t) => {
  const ip = golden('newroute-default');
  const req = { family: C.AF_INET, dst: Buffer.alloc(4), dstLen: 0, oif: 3, scope: C.RT_SCOPE_LINK, protocol: C.RTPROT_BOOT };
  t.equal(R.route('new', req, seqOf(ip)).toString('hex'), ip.toString('hex'));
  // nkit's own default form: no RTA_DST, RTPROT_STATIC; nothing else differs.
  const own = R.route('new', { ...req, dst: null, protocol: undefined }, seqOf(ip));
  const { [C.RTA_DST]: dst, ...rest } = msgTree(ip, C.RTMSG_LEN);
  t.equal(dst, '00000000');
  t.same(msgTree(own, C.RTMSG_LEN), { ...rest, familyHeader: (rest.familyHeader as string).replace('fe03fd01', 'fe04fd01') });
});

t.test('/32 device route scope link: byte for byte', async (t) => {
  const ip = golden('newroute-host32');
  const req = { family: C.AF_INET, dst: Buffer.from([10, 213, 0, 2]), dstLen: 32, oif: 3, scope: C.RT_SCOPE_LINK, protocol: C.RTPROT_BOOT };
  t.equal(R.route('new', req, seqOf(ip)).toString('hex'), ip.toString('hex'));
});
