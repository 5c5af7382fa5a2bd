// The hook client <-> nkitd wire format: round trips, partial frames, and
// refusal of what is not a request.
import t from 'tap';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../src/agent/protocol';
import { parseHookArgs } from '../../src/lifecycle/oci';

t.test('round trips and partial frames', async (t) => {
  const req = { argv: ['nkit-oci-hook', '--config', '/etc/x.json', 'createRuntime'], env: { NKIT_CONFIG: '/a=b' }, stdin: '{"id":"é"}' };
  const b = encodeRequest(req);
  t.same(decodeRequest(b), req);
  for (const cut of [0, 3, 4, 10, b.length - 1]) t.equal(decodeRequest(b.subarray(0, cut)), undefined, `${cut} bytes: wait for more`);
  t.equal(b.subarray(0, 4).toString(), 'NKH1');
  t.equal(b.readUInt32BE(4), 4, 'argc big-endian, as the C client writes it');
  const res = { code: -3, stderr: 'nkit-oci-hook: x\n' };
  t.same(decodeResponse(encodeResponse(res)), res);
  t.throws(() => decodeRequest(Buffer.from('GET / HTTP/1.1\r\n\r\n')), { code: 'EINPUT' });
  const huge = Buffer.concat([Buffer.from('NKH1'), Buffer.from([0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff])]);
  t.throws(() => decodeRequest(huge), { message: /too large/ });
});

t.test('the hook command line without commander', async (t) => {
  t.same(parseHookArgs(['createRuntime']), { stage: 'createRuntime' });
  t.same(parseHookArgs(['--config', 'c.json', '--log-level=debug', 'poststop']), { stage: 'poststop', configFlag: 'c.json', logLevel: 'debug' });
  t.throws(() => parseHookArgs([]), { code: 'EUSAGE', message: /missing the stage/ });
  t.throws(() => parseHookArgs(['--config']), { code: 'EUSAGE' });
  t.throws(() => parseHookArgs(['--bogus', 'x']), { code: 'EUSAGE', message: /unknown option --bogus/ });
  t.throws(() => parseHookArgs(['a', 'b']), { code: 'EUSAGE', message: /unexpected argument b/ });
});
