// The container cannot change or detach its policy: root inside a runc
// container (the runtime's default capabilities, its own mount namespace)
// cannot see the pinned maps and links, cannot open its own link by id and
// cannot detach it; afterwards the programs are still attached.
import { existsSync, readFileSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createBundle } from '../lib/bundle';
import { runOk } from '../lib/exec';
import { bpftoolNet } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { nkitEnv } from '../lib/nkit';
import { repoRoot } from '../lib/paths';
import { runtimeRun, runtimeSkipReason } from '../lib/runtime';
import { tempDir } from '../lib/scope';
import { waitFor } from '../lib/wait';
import { addon } from '../../src/native';

// The id of a pinned BPF link (struct bpf_link_info: type, then id).
function linkIdOfPin(pin: string): number {
  const fd = addon().bpfObjGet(pin);
  try {
    return addon().bpfObjInfo(fd, 64).readUInt32LE(4);
  } finally {
    addon().closeFd(fd);
  }
}

t.test('root in the container cannot see or detach its policy', { skip: runtimeSkipReason('runc') }, async (t) => {
  const tools = await tempDir(t, 'nkt-tools-');
  const poke = join(tools, 'bpfpoke');
  await runOk(['gcc', '-static', '-O2', '-o', poke, join(repoRoot, 'test', 'tools', 'bpfpoke.c')]);
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const id = `iso-${process.pid}`;
  const pinDir = join(env.bpffsDir, id);
  const script = [
    'while [ ! -f /tmp/linkid ]; do sleep 0.1; done',
    `/bin/bpfpoke ${pinDir} $(cat /tmp/linkid)`,
    'id -u; touch /tmp/poked',
    'i=0; while [ ! -f /tmp/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done',
  ].join('\n');
  const bundle = await createBundle(t, { runtime: 'runc', args: ['sh', '-c', script], hooks: env.hooks(['createRuntime', 'poststop']) });
  copyFileSync(poke, join(bundle.rootfs, 'bin', 'bpfpoke'));
  chmodSync(join(bundle.rootfs, 'bin', 'bpfpoke'), 0o755);
  const running = runtimeRun({ runtime: 'runc', bundle: bundle.dir, id, hostNetns: host.name, timeoutMs: 60_000 });
  t.ok(await waitFor(() => existsSync(join(env.runDir, 'containers', `${id}.json`)) && existsSync(join(pinDir, 'link_egress')), { timeoutMs: 30_000 }), 'set up');
  writeFileSync(join(bundle.rootfs, 'tmp', 'linkid'), String(linkIdOfPin(join(pinDir, 'link_egress'))));
  const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', `${id}.json`), 'utf8'));
  t.ok(await waitFor(() => existsSync(join(bundle.rootfs, 'tmp', 'poked')), { timeoutMs: 30_000 }), 'the container tried');
  const net = JSON.stringify(await bpftoolNet(rec.primary.name, { netns: host.name }));
  t.match(net, /nkit_egress/, 'after its attempts, the egress program is still attached');
  t.match(net, /nkit_ingress/, '... and the ingress program');
  writeFileSync(join(bundle.rootfs, 'tmp', 'go'), '');
  const r = await running;
  t.equal(r.code, 0, `container ran (${r.stderr.trim()})`);
  t.match(r.stdout, new RegExp(`list ${pinDir}: No such file or directory`), 'no bpffs, no pins in the container');
  t.match(r.stdout, /obj_get link_egress: No such file or directory/, 'the link pin cannot be opened');
  t.match(r.stdout, /link_get_next_id: Operation not permitted/, 'bpf() refused: cannot enumerate links');
  t.match(r.stdout, /link_get_fd_by_id: Operation not permitted/, 'cannot open its own link by id');
  t.notMatch(r.stdout, /link_detach/, 'never got far enough to detach');
  t.match(r.stdout, /^0$/m, 'it ran as root (uid 0)');
});
