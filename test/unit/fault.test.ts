// Fault injection: NKIT_FAULT=fail:<point> throws there, NKIT_FAULT=<point>
// kills the process (checked in a child, not in the test runner).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { faultPoint } from '../../src/lifecycle/fault';

t.test('fail:<point> throws EINTERNAL at that point only', async (t) => {
  const env = { NKIT_FAULT: 'fail:after-link' };
  t.throws(() => faultPoint('after-link', env), { name: 'NkitError', code: 'EINTERNAL', message: 'injected failure at after-link (NKIT_FAULT)' });
  t.doesNotThrow(() => faultPoint('after-addr', env), 'other points pass');
  t.doesNotThrow(() => faultPoint('after', env), 'no prefix match');
  t.doesNotThrow(() => faultPoint('after-link', {}), 'unset');
  t.doesNotThrow(() => faultPoint('after-link', { NKIT_FAULT: '' }), 'empty');
});

t.test('the environment defaults to process.env', async (t) => {
  const saved = process.env.NKIT_FAULT;
  process.env.NKIT_FAULT = 'fail:p1';
  t.teardown(() => {
    if (saved === undefined) delete process.env.NKIT_FAULT;
    else process.env.NKIT_FAULT = saved;
  });
  t.throws(() => faultPoint('p1'), { code: 'EINTERNAL' });
});

t.test('<point> kills the process with SIGKILL (in a child)', async (t) => {
  const mod = join(__dirname, '..', '..', 'src', 'lifecycle', 'fault.js');
  const script = `require(${JSON.stringify(mod)}).faultPoint('p0'); console.log('after p0'); require(${JSON.stringify(mod)}).faultPoint('p1'); console.log('survived');`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, NKIT_FAULT: 'p1' }, encoding: 'utf8', timeout: 20_000 });
  t.equal(r.signal, 'SIGKILL');
  t.equal(r.stdout, 'after p0\n', 'died at p1, not before or after');
});
