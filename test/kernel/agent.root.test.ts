// nkitd: a root-only socket (mode 0600, and peers that are not root are
// refused even when the mode would let them in), concurrent requests from
// many hook clients, and the client's fallback when the agent goes away.
import { chmodSync, mkdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { encodeRequest } from '../../src/agent/protocol';
import { run } from '../lib/exec';
import { fakeContainer, runHook } from '../lib/hookrun';
import { createNetns } from '../lib/netns';
import { leftovers, nkitEnv, startTestAgent } from '../lib/nkit';
import { repoRoot } from '../lib/paths';
import { tempDir } from '../lib/scope';
import { rootSkipReason } from '../lib/skip';

const skip = rootSkipReason();
const CLIENT = join(repoRoot, 'native', 'build', 'nkit-hook-client');

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

// Without the agent the client starts Node from the startup snapshot. A
// snapshot is bound to the node binary and the CPU it was built on: one that
// does not load (here: built with other V8 flags, as a snapshot from another
// CPU fails) must not fail the hook: the same hook runs without it, with the
// same stdin, and stderr says why.
t.test('client without the agent: a snapshot that does not load', { skip }, async (t) => {
  const env = await nkitEnv(t);
  const root = await tempDir(t, 'nkt-snap-');
  mkdirSync(join(root, 'dist', 'hooks'), { recursive: true });
  symlinkSync(join(repoRoot, 'dist', 'hooks', 'oci-hook.js'), join(root, 'dist', 'hooks', 'oci-hook.js'));
  const blob = join(root, 'dist', 'oci-hook.snapshot.blob');
  writeFileSync(join(root, 'snap.js'), 'process.stdout.write("the snapshot ran\\n")');
  const built = await run([process.execPath, '--stack-size=900', '--snapshot-blob', blob, '--build-snapshot', join(root, 'snap.js')]);
  t.equal(built.code, 0, `a snapshot with other V8 flags: ${built.stderr}`);
  const node = realpathSync('/usr/bin/node');
  const st = statSync(node);
  writeFileSync(`${blob}.node`, `${st.size}-${Math.floor(st.mtimeMs / 1000)}\n`);
  const clientIn = (tree: string, stage: string, stdin: string) =>
    run([CLIENT, join(tree, 'dist', 'hooks', 'oci-hook.js'), '--config', env.configPath, stage], { input: stdin, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NKIT_NO_AGENT: '1', NKIT_NODE: '/usr/bin/node' } });
  const client = (stage: string, stdin: string) => clientIn(root, stage, stdin);
  const state = JSON.stringify({ ociVersion: '1.0.2', id: 'kt-snap', status: 'stopped', pid: 0, bundle: root });
  const r = await client('poststop', state);
  t.equal(r.code, 0, `poststop succeeds without the snapshot: ${r.stderr}`);
  t.notMatch(r.stdout, /the snapshot ran/, 'the foreign snapshot did not run');
  t.match(r.stderr, /nkit-oci-hook: the startup snapshot .*oci-hook\.snapshot\.blob does not fit this node binary or CPU/, 'stderr says the snapshot was not used, and how to rebuild it');
  t.match(readFileSync(join(env.runDir, 'nkit.log'), 'utf8'), /startup snapshot does not load/, 'and the log says so');
  const bad = await client('poststop', '{"id": 1}');
  t.equal(bad.code, 1, 'a hook failure keeps its exit code through the retry');
  t.match(bad.stderr, /nkit-oci-hook/, 'and its message');
  // The control: the snapshot `make build` made loads, so no retry message.
  const good = await clientIn(repoRoot, 'poststop', state);
  t.equal(good.code, 0, `with the matching snapshot: ${good.stderr}`);
  t.notMatch(good.stderr, /startup snapshot/, 'no retry');
});
