// nkitd: a root-only socket (mode 0600, and peers that are not root are
// refused even when the mode would let them in), concurrent requests from
// many hook clients, and the client's fallback when the agent goes away.
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { encodeRequest } from '../../src/agent/protocol';
import { run } from '../lib/exec';
import { fakeContainer, runHook } from '../lib/hookrun';
import { createNetns } from '../lib/netns';
import { leftovers, nkitEnv, startTestAgent } from '../lib/nkit';
import { rootSkipReason } from '../lib/skip';

const skip = rootSkipReason();

t.test('root only', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  await startTestAgent(t, env, host.name);
  const sock = join(env.runDir, 'nkitd.sock');
  const st = statSync(sock);
  t.equal(st.mode & 0o777, 0o600, 'socket mode 0600');
  t.equal(st.uid, 0, 'owned by root');
  const req = encodeRequest({ argv: ['nkit-oci-hook', 'poststop'], env: {}, stdin: '{}' }).toString('base64');
  const asNobody = (): Promise<{ stdout: string; stderr: string; code: number | null }> =>
    run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', `
      const s = require('net').connect(${JSON.stringify(sock)});
      s.on('error', (e) => { console.log('error', e.code); });
      s.on('connect', () => s.end(Buffer.from(${JSON.stringify(req)}, 'base64')));
      let b = Buffer.alloc(0); s.on('data', (d) => (b = Buffer.concat([b, d])));
      s.on('end', () => console.log('answer', b.readInt32BE(4), b.subarray(12).toString()));`]);
  t.match((await asNobody()).stdout, /error EACCES/, 'a non-root process cannot connect');
  // Open the way (the directories are 0700 too) to reach the credential check.
  chmodSync(sock, 0o666);
  chmodSync(env.runDir, 0o711);
  chmodSync(join(env.runDir, '..'), 0o711);
  t.match((await asNobody()).stdout, /answer 1 nkitd: refused: peer uid 65534 is not root/, 'and is refused by its credentials when it can');
});

t.test('20 hook clients at once through the agent', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  await startTestAgent(t, env, host.name);
  const cs = await Promise.all(Array.from({ length: 20 }, (_, i) => fakeContainer(t, `kt-agent-${i}`)));
  const setups = await Promise.all(cs.map((c) => runHook(t, env, host.name, 'createRuntime', c.state())));
  t.same(setups.map((r) => r.code), cs.map(() => 0), 'every setup succeeded');
  const addrs = cs.map((c) => JSON.parse(readFileSync(join(env.runDir, 'containers', `${c.id}.json`), 'utf8')).addresses[0].address);
  t.equal(new Set(addrs).size, 20, 'unique addresses');
  const downs = await Promise.all(cs.map((c) => runHook(t, env, host.name, 'poststop', c.state('stopped'))));
  t.same(downs.map((r) => r.code), cs.map(() => 0));
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
  const log = readFileSync(join(env.runDir, 'nkit.log'), 'utf8');
  t.notMatch(log, /agent is not available/, 'all served by the agent');
});
