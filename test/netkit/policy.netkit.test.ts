// The policy on netkit (runs in the VM): a named policy's TCP rule passes
// with its replies, another port does not, a spoofed source is dropped, the
// counters move by the right amounts (98-byte echoes: netkit l3 still carries
// a 14-byte ethernet header), a live apply changes the verdict, and nothing inside the
// container's namespace can attach or detach programs on its eth0. Leaving
// allow-all writes the container's open connection into the table.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import * as abi from '../../src/bpf/abi';
import { run, runOk } from '../lib/exec';
import { ipLink } from '../lib/kernel';
import { fakeContainer, runHook } from '../lib/hookrun';
import { createNetns } from '../lib/netns';
import { CLI, leftovers, nkitEnv } from '../lib/nkit';
import { listening, ping, tcp } from '../lib/traffic';
import { waitFor } from '../lib/wait';
import { netkitSkipReason } from './netkit-skip';

const HOST4 = '10.213.0.1';

t.test('policy on netkit', { skip: netkitSkipReason() }, async (t) => {
  const host = await createNetns(t);
  const hostNs = `/run/netns/${host.name}`;
  const env = await nkitEnv(t, { datapath: 'netkit' });
  const dir = env.config.policiesDir as string;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'web.json'), JSON.stringify({ egress: [{ cidr: `${HOST4}/32`, proto: 'tcp', ports: '8080' }] }));
  const c = await fakeContainer(t, 'nk-policy', { annotations: { 'org.nkit.policy': 'web' } });
  const r = await runHook(t, env, host.name, 'createRuntime', c.state());
  t.equal(r.code, 0, `setup (${r.stderr.trim()})`);
  // The program on packets towards the container sees eth0's ifindex: it
  // must name the container's slot as the host device's does.
  const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', 'nk-policy.json'), 'utf8'));
  t.equal(rec.primary.ifindex, abi.slotIfindex(rec.bpf.slot), 'host device: the ifindex of the container\'s slot');
  t.equal((await ipLink('eth0', { netns: c.netns.name }))?.ifindex, rec.primary.ifindex, 'eth0 in the container: the same ifindex');

  t.ok(await tcp(c.netns.path, hostNs, HOST4, 8080), 'allowed TCP connects (replies pass)');
  t.notOk(await tcp(c.netns.path, hostNs, HOST4, 8081, 2), 'another port times out');
  t.notOk(await ping(c.netns.path, HOST4, 1), 'ICMP is not allowed');

  // Exact counters under allow-all, then a spoofed source.
  t.equal((await run([CLI, '--config', env.configPath, 'policy', 'apply', 'nk-policy', 'allow-all'])).code, 0, 'live apply');
  const stats = async () => JSON.parse((await runOk([CLI, '--config', env.configPath, 'stats', 'nk-policy', '--json'])).stdout);
  const before = await stats();
  await runOk(['nsenter', `--net=${c.netns.path}`, '/bin/busybox', 'ping', '-c', '3', '-i', '0.2', '-W', '2', HOST4]);
  await runOk(['ip', '-n', c.netns.name, 'addr', 'add', '10.213.0.77/32', 'dev', 'eth0']);
  const spoofed = await run(['nsenter', `--net=${c.netns.path}`, '/bin/busybox', 'ping', '-c', '2', '-i', '0.2', '-W', '1', '-I', '10.213.0.77', HOST4]);
  t.not(spoofed.code, 0, 'a spoofed source gets nothing back');
  const after = await stats();
  const d = (dir: string, k: string) => ({ packets: after[dir][k].packets - before[dir][k].packets, bytes: after[dir][k].bytes - before[dir][k].bytes });
  t.same(d('egress', 'pass'), { packets: 3, bytes: 3 * 98 }, 'egress pass: 3 echo requests of 98 bytes');
  t.same(d('ingress', 'pass'), { packets: 3, bytes: 3 * 98 }, 'ingress pass: 3 echo replies (allow-all tracks nothing: no reply counter)');
  t.same(d('egress', 'drop_spoof'), { packets: 2, bytes: 2 * 98 }, 'drop_spoof: the 2 spoofed requests');
  t.same(d('egress', 'pass_neigh'), { packets: 0, bytes: 0 }, 'l3: no neighbour traffic at all');

  // Back to the rules: a connection the container opened under allow-all
  // (it waits for an answer) is written into the table from its socket.
  const server = spawn('nsenter', [`--net=${hostNs}`, '/bin/busybox', 'nc', '-l', '-p', '8080']);
  t.teardown(() => server.kill('SIGKILL'));
  t.ok(await listening(hostNs, 8080), 'a server listens');
  const client = spawn('nsenter', [`--net=${c.netns.path}`, '/bin/busybox', 'nc', HOST4, '8080']);
  t.teardown(() => client.kill('SIGKILL'));
  t.ok(await waitFor(async () => (await run(['nsenter', `--net=${c.netns.path}`, 'ss', '-Htn', 'state', 'established', 'dport = :8080'])).stdout.trim() !== '', { timeoutMs: 10_000 }), 'the container is connected');
  const back = await run([CLI, '--config', env.configPath, 'policy', 'apply', 'nk-policy', 'web']);
  t.match(back.stdout, /1 open connections carried over from allow-all/, 'sock_diag lists it on this kernel');
  t.equal(back.stderr, '', 'no warning');
  client.kill('SIGKILL');
  server.kill('SIGKILL');

  // From inside the container's namespace, even with every capability,
  // netkit refuses programs on the peer: only the host-side primary manages them.
  const attach = await run(['nsenter', `--net=${c.netns.path}`, process.execPath, '-e', `
    const { addon } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'native.js'))});
    const { loadPolicyObject } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'bpf', 'program.js'))});
    const { withNetlink } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'netlink', 'socket.js'))});
    const { getLink } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'netlink', 'ops.js'))});
    const idx = withNetlink(-1, (s) => getLink(s, { name: 'eth0' }).index);
    const o = loadPolicyObject();
    for (const type of [54, 55]) {
      try { addon().bpfLinkCreate(o.progs.egress, idx, type, 0, -1); console.log('attached', type); }
      catch (e) { console.log('refused', type, e.code); }
    }`]);
  t.match(attach.stdout, /refused 54 EACCES/, 'BPF_NETKIT_PRIMARY on the peer: EACCES');
  t.match(attach.stdout, /refused 55 EACCES/, 'BPF_NETKIT_PEER on the peer: EACCES');
  t.notMatch(attach.stdout, /attached/, 'nothing attached from inside');

  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0, 'teardown');
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] }, 'nothing left');
});
