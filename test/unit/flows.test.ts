// Which of a container's sockets become connection-table entries when a
// policy replaces allow-all, and who opened each (pure: src/policy/flows.ts),
// and the sock_diag request and answer layouts (src/netlink/sockdiag.ts).
import t from 'tap';
import * as abi from '../../src/bpf/abi';
import { NLM_F_DUMP, NLM_F_REQUEST } from '../../src/netlink/constants';
import { InetSocket, parseInetDiagMsg, sockDiagRequest, SOCK_DIAG_BY_FAMILY, TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_RECV, TCP_SYN_SENT, TCP_TIME_WAIT } from '../../src/netlink/sockdiag';
import { flowsOfSockets } from '../../src/policy/flows';

const v4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
const v6 = (hex: string): Buffer => Buffer.from(hex.padStart(32, '0'), 'hex');
const ME4 = v4('10.213.0.2');
const ME6 = Buffer.from('fd6e6b69007400000000000000000002', 'hex');
const ANY4 = v4('0.0.0.0');
const ANY6 = v6('');
const mapped = (a: Buffer): Buffer => Buffer.concat([Buffer.from('00000000000000000000ffff', 'hex'), a]);
const own = { addr4: ME4, addr6: ME6 };

const sock = (proto: 'tcp' | 'udp', state: number, src: Buffer, sport: number, dst: Buffer, dport: number): InetSocket => ({
  family: src.length === 4 ? 4 : 6, proto, state, src, sport, dst, dport,
});
const brief = (socks: InetSocket[]) =>
  flowsOfSockets(socks, own).map((f) => `${f.proto === 6 ? 'tcp' : 'udp'}${f.family} ${f.dir === abi.DIR_EGRESS ? 'out' : 'in'} ${f.cport}->${f.raddr.toString('hex')}:${f.rport}`);

t.test('connections the container opened, and ones opened to its servers', async (t) => {
  t.same(brief([sock('tcp', TCP_ESTABLISHED, ME4, 40000, v4('10.0.0.9'), 443)]), ['tcp4 out 40000->0a000009:443'], 'no listener on the local port: opened by the container');
  t.same(brief([sock('tcp', TCP_SYN_SENT, ME4, 40001, v4('10.0.0.9'), 443)]), ['tcp4 out 40001->0a000009:443'], 'a connect in progress');
  t.same(
    brief([sock('tcp', TCP_LISTEN, ANY4, 8080, ANY4, 0), sock('tcp', TCP_ESTABLISHED, ME4, 8080, v4('10.0.0.9'), 51000)]),
    ['tcp4 in 8080->0a000009:51000'],
    'a wildcard listener on the port: opened by the remote; the listener is no flow',
  );
  t.same(
    brief([sock('tcp', TCP_LISTEN, ANY6, 8080, ANY6, 0), sock('tcp', TCP_ESTABLISHED, mapped(ME4), 8080, mapped(v4('10.0.0.9')), 51000)].map((s) => ({ ...s, family: 6 as const }))),
    ['tcp4 in 8080->0a000009:51000'],
    'an IPv6 wildcard listener serves IPv4 too; IPv4-mapped addresses become IPv4 entries',
  );
  t.same(
    brief([sock('tcp', TCP_LISTEN, v4('127.0.0.1'), 8080, ANY4, 0), sock('tcp', TCP_ESTABLISHED, ME4, 8080, v4('10.0.0.9'), 51000)]),
    ['tcp4 out 8080->0a000009:51000'],
    'a listener on another address does not make it inbound',
  );
  t.same(brief([sock('tcp', TCP_LISTEN, ME4, 22, ANY4, 0), sock('tcp', TCP_ESTABLISHED, ME4, 22, v4('10.0.0.9'), 51000)]), ['tcp4 in 22->0a000009:51000'], 'a listener on the container address');
  t.same(brief([sock('tcp', TCP_SYN_RECV, ME4, 9000, v4('10.0.0.9'), 51000)]), ['tcp4 in 9000->0a000009:51000'], 'a half-open inbound connection');
  t.same(brief([sock('tcp', TCP_ESTABLISHED, ME6, 40000, v6('20010db8000000000000000000000001'), 80)]), ['tcp6 out 40000->20010db8000000000000000000000001:80'], 'IPv6');
  t.same(brief([sock('udp', TCP_ESTABLISHED, ME4, 50000, v4('10.0.0.53'), 53)]), ['udp4 out 50000->0a000035:53'], 'a connected UDP socket');
  t.same(
    brief([sock('udp', TCP_CLOSE, ANY4, 4433, ANY4, 0), sock('udp', TCP_ESTABLISHED, ME4, 4433, v4('10.0.0.9'), 60000)]),
    ['udp4 in 4433->0a000009:60000'],
    'a connected UDP socket on a port an unconnected one serves: opened by the remote',
  );
});

t.test('what is not a connection through eth0', async (t) => {
  t.same(brief([sock('tcp', TCP_TIME_WAIT, ME4, 40000, v4('10.0.0.9'), 443)]), [], 'TIME_WAIT');
  t.same(brief([sock('tcp', TCP_CLOSE, ME4, 40000, v4('10.0.0.9'), 443)]), [], 'closed');
  t.same(brief([sock('tcp', TCP_ESTABLISHED, v4('127.0.0.1'), 40000, v4('127.0.0.1'), 8080)]), [], 'loopback');
  t.same(brief([sock('tcp', TCP_ESTABLISHED, v4('10.213.0.77'), 40000, v4('10.0.0.9'), 443)]), [], 'an address that is not the container\'s');
  t.same(brief([sock('udp', TCP_CLOSE, ME4, 5353, ANY4, 0)]), [], 'an unconnected UDP socket');
  t.same(flowsOfSockets([sock('tcp', TCP_ESTABLISHED, ME6, 40000, v6('01'), 80)], { addr4: ME4 }), [], 'no IPv6 address: no IPv6 entries');
  const dup = sock('tcp', TCP_ESTABLISHED, ME4, 40000, v4('10.0.0.9'), 443);
  t.equal(brief([dup, { ...dup }]).length, 1, 'one entry per connection');
});

t.test('the entries are the table\'s keys', async (t) => {
  const [f] = flowsOfSockets([sock('tcp', TCP_ESTABLISHED, ME4, 40000, v4('10.0.0.9'), 443)], own);
  const k = abi.encodeCtKey(f!);
  t.equal(k.length, abi.CT_KEY_SIZE);
  t.same([k[0], k[1], k.readUInt16BE(4), k.readUInt16BE(6)], [4, 6, 40000, 443], 'family, proto, container port, remote port');
  t.equal(k.subarray(8, 24).toString('hex'), '0ad50002' + '00'.repeat(12), 'container address, IPv4 in the first 4 bytes');
  t.equal(k.subarray(24, 40).toString('hex'), '0a000009' + '00'.repeat(12), 'remote address');
  const v = abi.encodeCtVal({ lastSeenNs: 123n, gen: 7, rule: 0, dir: abi.DIR_EGRESS });
  t.same(abi.decodeCtVal(v), { lastSeenNs: 123n, gen: 7, rule: 0, dir: abi.DIR_EGRESS });
});

t.test('sock_diag request and answer layouts', async (t) => {
  const req = sockDiagRequest(9, 6, 'udp');
  t.equal(req.readUInt32LE(0), 16 + 56, 'nlmsghdr + struct inet_diag_req_v2');
  t.equal(req.readUInt16LE(4), SOCK_DIAG_BY_FAMILY);
  t.equal(req.readUInt16LE(6), NLM_F_REQUEST | NLM_F_DUMP);
  t.same([req[16], req[17], req.readUInt32LE(20)], [10, 17, 0xffffffff], 'AF_INET6, IPPROTO_UDP, every state');
  const msg = Buffer.alloc(72);
  msg[0] = 2;
  msg[1] = TCP_ESTABLISHED;
  msg.writeUInt16BE(40000, 4);
  msg.writeUInt16BE(443, 6);
  ME4.copy(msg, 8);
  v4('10.0.0.9').copy(msg, 24);
  t.same(parseInetDiagMsg(msg, 'tcp'), { family: 4, proto: 'tcp', state: TCP_ESTABLISHED, sport: 40000, dport: 443, src: ME4, dst: v4('10.0.0.9') });
  t.equal(parseInetDiagMsg(msg.subarray(0, 71), 'tcp'), undefined, 'short');
});
