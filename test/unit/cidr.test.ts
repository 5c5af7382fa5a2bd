// Address and prefix parsing/formatting: RFC 5952 output, strict input.
import t from 'tap';
import {
  addressBytes, bytesToAddress, contains, formatAddress, formatPrefix, parseAddress, parsePrefix, prefixSize,
} from '../../src/ipam/cidr';
import { NkitError } from '../../src/errors';

const v6 = (text: string): bigint => parseAddress(text).value;
const fmt6 = (text: string): string => formatAddress(6, v6(text));

t.test('IPv4 parse and format', async (t) => {
  t.same(parseAddress('10.213.0.2'), { family: 4, value: 0x0ad50002n });
  t.same(parseAddress('255.255.255.255'), { family: 4, value: 0xffffffffn });
  t.equal(formatAddress(4, 0x0ad50002n), '10.213.0.2');
  t.equal(formatAddress(4, 0n), '0.0.0.0');
  for (const s of ['10.213.0.2', '0.0.0.0', '192.168.255.1']) t.equal(formatAddress(4, parseAddress(s).value), s, `${s} round trip`);
});

t.test('IPv6 parse: compressed forms expand to the right groups', async (t) => {
  t.equal(v6('::'), 0n);
  t.equal(v6('::1'), 1n);
  t.equal(v6('1::'), 1n << 112n);
  t.equal(v6('fd6e:6b69:74::2'), 0xfd6e6b69007400000000000000000002n);
  t.equal(v6('FD6E:6B69:74::2'), v6('fd6e:6b69:74::2'), 'upper case accepted');
  t.equal(v6('1:2:3:4:5:6:7:8'), 0x00010002000300040005000600070008n);
  t.equal(v6('::2:3:4:5:6:7:8'), 0x00000002000300040005000600070008n);
  t.equal(v6('1:2:3:4:5:6:7::'), 0x00010002000300040005000600070000n);
  t.equal(v6('0:0:0:0:0:0:0:0'), 0n);
});

t.test('RFC 5952 formatting', async (t) => {
  t.equal(fmt6('FD6E:6B69:0074:0000:0000:0000:0000:0002'), 'fd6e:6b69:74::2', 'lowercase, no leading zeros, :: for the run');
  t.equal(fmt6('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'tie: first run compressed');
  t.equal(fmt6('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1', 'longest run wins over an earlier shorter one');
  t.equal(fmt6('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero group is not compressed');
  t.equal(fmt6('0:0:0:0:0:0:0:0'), '::');
  t.equal(fmt6('0:0:0:0:0:0:0:1'), '::1');
  t.equal(fmt6('1:0:0:0:0:0:0:0'), '1::');
  t.equal(fmt6('0:1:0:1:0:1:0:1'), '0:1:0:1:0:1:0:1', 'only single zeros');
  t.equal(fmt6('1:0:0:2:0:0:0:0'), '1:0:0:2::');
  for (const s of ['fe80::1', 'fd6e:6b69:74::', '2001:db8::', '::ffff:0:1', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789']) {
    t.equal(formatAddress(6, v6(s)), s, `${s} round trip`);
  }
});

t.test('rejects', async (t) => {
  const bad = [
    '', '1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', 'x1.2.3.4', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4/32',
    'fe80::1%eth0', '::ffff:1.2.3.4', '::1.2.3.4', '64:ff9b::10.0.0.1', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', ':::',
  ];
  for (const s of bad) {
    t.throws(() => parseAddress(s), { name: 'NkitError', code: 'EINPUT', message: `"${s}" is not an IPv4 or IPv6 address` }, JSON.stringify(s));
  }
});

t.test('parsePrefix', async (t) => {
  t.same(parsePrefix('10.213.0.0/24'), { family: 4, network: 0x0ad50000n, prefixLen: 24 });
  t.same(parsePrefix('fd6e:6b69:74::/64'), { family: 6, network: 0xfd6e6b69007400000000000000000000n, prefixLen: 64 });
  t.same(parsePrefix('0.0.0.0/0'), { family: 4, network: 0n, prefixLen: 0 });
  t.same(parsePrefix('::1/128'), { family: 6, network: 1n, prefixLen: 128 });
  t.throws(() => parsePrefix('10.213.0.1/24'), { code: 'EINPUT', message: /host bits are set \(did you mean 10\.213\.0\.0\/24\?\)/ });
  t.throws(() => parsePrefix('fd6e:6b69:74::1/64'), { code: 'EINPUT', message: /did you mean fd6e:6b69:74::\/64\?/ });
  t.throws(() => parsePrefix('10.0.0.0'), { code: 'EINPUT', message: /not a CIDR prefix/ });
  for (const s of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/2a', '10.0.0.0/ 8', '10.0.0.0/8/8']) {
    t.throws(() => parsePrefix(s), NkitError, s);
  }
  t.equal(formatPrefix(parsePrefix('fd6e:6b69:0074:0::/64')), 'fd6e:6b69:74::/64');
  t.equal(prefixSize(parsePrefix('10.213.0.0/24')), 256n);
  t.equal(prefixSize(parsePrefix('fd00::/64')), 1n << 64n);
});

t.test('contains', async (t) => {
  const p4 = parsePrefix('10.213.0.0/24');
  t.ok(contains(p4, 4, parseAddress('10.213.0.255').value));
  t.ok(contains(p4, 4, parseAddress('10.213.0.0').value));
  t.notOk(contains(p4, 4, parseAddress('10.213.1.0').value));
  t.notOk(contains(p4, 4, parseAddress('10.212.255.255').value));
  t.notOk(contains(p4, 6, parseAddress('10.213.0.1').value), 'family must match');
  const p6 = parsePrefix('fd6e:6b69:74::/64');
  t.ok(contains(p6, 6, v6('fd6e:6b69:74::ffff:ffff:ffff:ffff')));
  t.notOk(contains(p6, 6, v6('fd6e:6b69:75::')));
  t.ok(contains(parsePrefix('0.0.0.0/0'), 4, 0xffffffffn), '/0 holds everything');
  t.ok(contains(parsePrefix('10.0.0.1/32'), 4, 0x0a000001n));
  t.notOk(contains(parsePrefix('10.0.0.1/32'), 4, 0x0a000002n));
});

t.test('addressBytes / bytesToAddress', async (t) => {
  t.equal(addressBytes(4, parseAddress('10.213.0.2').value).toString('hex'), '0ad50002', 'network order');
  t.equal(addressBytes(6, v6('fd6e:6b69:74::2')).toString('hex'), 'fd6e6b69007400000000000000000002');
  t.equal(addressBytes(6, 1n).length, 16);
  t.same(bytesToAddress(Buffer.from('0ad50002', 'hex')), { family: 4, value: 0x0ad50002n });
  t.same(bytesToAddress(Buffer.alloc(16, 0xff)), { family: 6, value: (1n << 128n) - 1n });
  for (const s of ['1.2.3.4', '255.0.0.1', 'fd6e:6b69:74::2', '::1', 'ffff::']) {
    const a = parseAddress(s);
    t.same(bytesToAddress(addressBytes(a.family, a.value)), a, `${s} round trip`);
  }
});
