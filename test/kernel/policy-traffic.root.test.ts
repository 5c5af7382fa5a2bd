// The policy on real traffic between namespaces on this host (veth+tcx):
// a named policy from the policies directory, allowed TCP connects and its
// replies pass, other ports time out, a spoofed source is dropped, counters
// move by the right amounts, `nkit policy apply` changes the verdict for new
// connections while an allowed stream keeps flowing, a connection opened
// under allow-all (which tracks nothing) keeps its replies after a policy
// with rules replaces it, and a bad policy stops the container with nothing
// created.
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import * as abi from '../../src/bpf/abi';
import { addon } from '../../src/native';
import { run, runOk } from '../lib/exec';
import { fakeContainer, runHook } from '../lib/hookrun';
import { createNetns } from '../lib/netns';
import { CLI, leftovers, nkitEnv, type NkitTestEnv } from '../lib/nkit';
import { rootSkipReason } from '../lib/skip';
import { listening, ping, tcp } from '../lib/traffic';
import { waitFor } from '../lib/wait';

const skip = rootSkipReason();
const HOST4 = '10.213.0.1';
const HOST6 = 'fd6e:6b69:74::1';

function writePolicy(env: NkitTestEnv, name: string, body: unknown): string {
  const dir = env.config.policiesDir as string;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body), { mode: 0o644 });
  return file;
}

const nkit = (env: NkitTestEnv, ...args: string[]) => run([CLI, '--config', env.configPath, ...args]);
async function stats(env: NkitTestEnv, id: string): Promise<Record<string, Record<string, { packets: number; bytes: number }>>> {
  return JSON.parse((await runOk([CLI, '--config', env.configPath, 'stats', id, '--json'])).stdout);
}

const WEB = {
  egress: [
    { cidr: `${HOST4}/32`, proto: 'tcp', ports: '8080' },
    { cidr: `${HOST6}/128`, proto: 'tcp', ports: '8080' },
  ],
};

t.test('a named policy on real traffic', { skip }, async (t) => {
  const host = await createNetns(t);
  const hostNs = `/run/netns/${host.name}`;
  const env = await nkitEnv(t);
  writePolicy(env, 'web', WEB);
  const c = await fakeContainer(t, 'kt-web', { annotations: { 'org.nkit.policy': 'web' } });
  const r = await runHook(t, env, host.name, 'createRuntime', c.state());
  t.equal(r.code, 0, `setup (${r.stderr.trim()})`);
  const show = JSON.parse((await nkit(env, 'policy', 'show', 'kt-web', '--json')).stdout);
  t.match(show.policy, { name: 'web', source: 'annotation org.nkit.policy' }, 'show: name and source');
  t.equal(show.applied.rules.egress.length, 2, 'show: the rules in force');

  for (const [addr, what] of [[HOST4, 'v4'], [HOST6, 'v6']] as const) {
    const ok = await tcp(c.netns.path, hostNs, addr, 8080);
    t.ok(ok, `allowed: TCP to the host port 8080 (${what}), replies pass`, ok ? {} : { stats: (await nkit(env, 'stats', 'kt-web')).stdout });
  }
  t.notOk(await tcp(c.netns.path, hostNs, HOST4, 8081, 2), 'not allowed: port 8081 times out');
  t.notOk(await ping(c.netns.path, HOST4, 1), 'not allowed: ICMP');
  t.notOk(await tcp(hostNs, c.netns.path, '10.213.0.2', 8080, 2), 'no ingress rule: the host cannot connect in');

  const test = JSON.parse((await nkit(env, 'policy', 'test', 'kt-web', '--dir', 'egress', '--to', HOST4, '--proto', 'tcp', '--port', '8080', '--json')).stdout);
  t.match(test, { verdict: 'pass', reason: 'pass', rule: 0 }, 'policy test names the rule');
  const test2 = JSON.parse((await nkit(env, 'policy', 'test', 'kt-web', '--dir', 'egress', '--to', HOST4, '--proto', 'udp', '--port', '53', '--json')).stdout);
  t.match(test2, { verdict: 'drop', reason: 'drop_policy' });

  // Counters: three pings are three requests out and three replies in; a
  // policy that allows them counts the replies as replies, allow-all (which
  // tracks nothing) as passed.
  writePolicy(env, 'pinger', { egress: [{ cidr: `${HOST4}/32`, proto: 'icmp' }] });
  for (const [policy, replies] of [['pinger', 'pass_reply'], ['allow-all', 'pass']] as const) {
    t.equal((await nkit(env, 'policy', 'apply', 'kt-web', policy)).code, 0);
    await ping(c.netns.path, HOST4, 1); // settle ARP
    const before = await stats(env, 'kt-web');
    await runOk(['nsenter', `--net=${c.netns.path}`, '/bin/busybox', 'ping', '-c', '3', '-i', '0.2', '-W', '1', HOST4]);
    const after = await stats(env, 'kt-web');
    const d = (dir: string, k: string) => ({ packets: after[dir]![k]!.packets - before[dir]![k]!.packets, bytes: after[dir]![k]!.bytes - before[dir]![k]!.bytes });
    t.same(d('egress', 'pass'), { packets: 3, bytes: 3 * 98 }, `${policy}: egress pass: 3 echo requests of 98 bytes (ethernet + 84)`);
    t.same(d('ingress', replies), { packets: 3, bytes: 3 * 98 }, `${policy}: ingress ${replies}: 3 echo replies`);
    t.same(d('egress', 'drop_policy'), { packets: 0, bytes: 0 });
  }

  // A spoofed source is dropped whatever the policy says.
  await runOk(['ip', '-n', c.netns.name, 'addr', 'add', '10.213.0.77/32', 'dev', 'eth0']);
  const s0 = await stats(env, 'kt-web');
  const spoofed = await run(['nsenter', `--net=${c.netns.path}`, '/bin/busybox', 'ping', '-c', '2', '-i', '0.2', '-W', '1', '-I', '10.213.0.77', HOST4]);
  t.not(spoofed.code, 0, 'ping from a source that is not the container\'s gets no reply');
  const s1 = await stats(env, 'kt-web');
  t.ok(s1.egress!.drop_spoof!.packets - s0.egress!.drop_spoof!.packets >= 2, 'drop_spoof counted them');
  t.ok(await ping(c.netns.path, HOST4, 1), 'the container\'s own address still works');

  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
});

t.test('policy apply: new verdicts for new connections, an allowed stream keeps flowing', { skip }, async (t) => {
  const host = await createNetns(t);
  const hostNs = `/run/netns/${host.name}`;
  const env = await nkitEnv(t);
  writePolicy(env, 'web', WEB);
  writePolicy(env, 'web2', { egress: [...WEB.egress, { cidr: `${HOST4}/32`, proto: 'tcp', ports: '9090' }] });
  const c = await fakeContainer(t, 'kt-live', { annotations: { 'org.nkit.policy': 'web' } });
  t.equal((await runHook(t, env, host.name, 'createRuntime', c.state())).code, 0);
  t.notOk(await tcp(c.netns.path, hostNs, HOST4, 9090, 2), 'before: 9090 is not allowed');

  // A stream of lines over an allowed connection, counted at the server.
  const sink = join(env.runDir, '..', 'stream.out');
  const server = spawn('sh', ['-c', `exec nsenter --net=${hostNs} /bin/busybox nc -l -p 8080 > ${sink}`]);
  t.teardown(() => server.kill('SIGKILL'));
  t.ok(await listening(hostNs, 8080), 'the stream server listens');
  const client = spawn('nsenter', [`--net=${c.netns.path}`, 'sh', '-c', `while true; do echo 0123456789abcdef; sleep 0.02; done | /bin/busybox nc ${HOST4} 8080`]);
  t.teardown(() => client.kill('SIGKILL'));
  const size = () => { try { return statSync(sink).size; } catch { return 0; } };
  t.ok(await waitFor(() => size() > 500, { timeoutMs: 5000 }), 'the stream flows');

  const applied = await nkit(env, 'policy', 'apply', 'kt-live', 'web2');
  t.equal(applied.code, 0, `apply: ${applied.stdout.trim()}${applied.stderr.trim()}`);
  const atApply = size();
  t.ok(await waitFor(() => size() > atApply + 500, { timeoutMs: 5000 }), 'the stream keeps flowing after the apply');
  const after9090 = await tcp(c.netns.path, hostNs, HOST4, 9090);
  t.ok(after9090, 'after: a new connection to 9090 is allowed', after9090 ? {} : { stats: (await nkit(env, 'stats', 'kt-live')).stdout, test: (await nkit(env, 'policy', 'test', 'kt-live', '--dir', 'egress', '--to', HOST4, '--proto', 'tcp', '--port', '9090')).stdout });
  const bpftool = JSON.stringify((await runOk(['bpftool', '-j', 'link', 'show'])).stdout);
  t.ok(bpftool.length > 0, 'links still listed');

  // Now a policy without 8080: new connections to 8080 fail.
  writePolicy(env, 'only9090', { egress: [{ cidr: `${HOST4}/32`, proto: 'tcp', ports: '9090' }] });
  t.equal((await nkit(env, 'policy', 'apply', 'kt-live', 'only9090')).code, 0);
  client.kill('SIGKILL');
  server.kill('SIGKILL');
  t.notOk(await tcp(c.netns.path, hostNs, HOST4, 8080, 2), 'a new connection to 8080 is refused now');
  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
});

// A server in the host namespace that answers each connection on SIGUSR1.
const ANSWER_ON_SIGNAL = `
const net = require('net');
const socks = [];
net.createServer((s) => { socks.push(s); process.stdout.write('connected\\n'); }).listen(Number(process.argv[1]), '0.0.0.0', () => process.stdout.write('listening\\n'));
process.on('SIGUSR1', () => { for (const s of socks) s.write('answer\\n'); });
`;

t.test('leaving allow-all: a connection waiting for its answer still gets it', { skip }, async (t) => {
  const host = await createNetns(t);
  const hostNs = `/run/netns/${host.name}`;
  const env = await nkitEnv(t);
  writePolicy(env, 'polled', { egress: [{ cidr: `${HOST4}/32`, proto: 'tcp', ports: '8080,8082' }] });
  const c = await fakeContainer(t, 'kt-poll', { annotations: { 'org.nkit.policy': 'allow-all' } });
  t.equal((await runHook(t, env, host.name, 'createRuntime', c.state())).code, 0);
  // Two clients that send nothing and wait (a long poll): 8080, and 8082
  // whose table entry the test takes out again, to show what the entry does.
  const waiting = new Map<number, { server: ReturnType<typeof spawn>; got: () => string; connected: () => boolean }>();
  for (const port of [8080, 8082]) {
    const server = spawn('nsenter', [`--net=${hostNs}`, process.execPath, '-e', ANSWER_ON_SIGNAL, String(port)]);
    t.teardown(() => server.kill('SIGKILL'));
    let log = '';
    server.stdout.on('data', (b: Buffer) => (log += b.toString()));
    t.ok(await waitFor(() => log.includes('listening'), { timeoutMs: 10_000 }), `server ${port} listens`);
    const client = spawn('nsenter', [`--net=${c.netns.path}`, '/bin/busybox', 'nc', HOST4, String(port)]);
    t.teardown(() => client.kill('SIGKILL'));
    let got = '';
    client.stdout.on('data', (b: Buffer) => (got += b.toString()));
    waiting.set(port, { server, got: () => got, connected: () => log.includes('connected') });
  }
  for (const [port, w] of waiting) t.ok(await waitFor(() => w.connected(), { timeoutMs: 10_000 }), `the container connected to ${port} under allow-all`);

  const applied = await nkit(env, 'policy', 'apply', 'kt-poll', 'polled');
  t.equal(applied.code, 0, `apply: ${applied.stderr.trim()}`);
  t.match(applied.stdout, /2 open connections carried over from allow-all/, 'both connections written into the table');
  t.equal(applied.stderr, '', 'no warning');
  const ct = addon().bpfObjGet(join(env.bpffsDir, 'kt-poll', 'map_ct'));
  try {
    for (let k = addon().bpfMapNextKey(ct, null, abi.CT_KEY_SIZE); k; k = addon().bpfMapNextKey(ct, k, abi.CT_KEY_SIZE)) {
      if (k.readUInt16BE(6) === 8082) t.ok(addon().bpfMapDelete(ct, k), 'the control connection\'s entry taken out');
    }
  } finally {
    addon().closeFd(ct);
  }
  for (const w of waiting.values()) w.server.kill('SIGUSR1');
  t.ok(await waitFor(() => waiting.get(8080)!.got().includes('answer'), { timeoutMs: 5000 }), 'the answer arrives after the apply');
  await new Promise((r) => setTimeout(r, 3000));
  t.equal(waiting.get(8082)!.got(), '', 'without its entry the other answer is dropped: the check above could fail');
  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
});

t.test('leaving allow-all when the connections cannot be listed: the policy goes in, with a warning', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  writePolicy(env, 'web', WEB);
  const c = await fakeContainer(t, 'kt-nolist', { annotations: { 'org.nkit.policy': 'allow-all' } });
  t.equal((await runHook(t, env, host.name, 'createRuntime', c.state())).code, 0);
  await c.netns.remove(); // its namespace is gone, its maps are still pinned
  const r = await nkit(env, 'policy', 'apply', 'kt-nolist', 'web');
  t.equal(r.code, 0, `applied (${r.stderr.trim()})`);
  t.match(r.stderr, /^nkit: warning: container kt-nolist: cannot carry its open connections over from allow-all \(container kt-nolist: cannot open its network namespace .*\): connections it opened lose the replies/m, 'the warning names the container and why');
  t.notMatch(r.stdout, /carried over/);
  t.match(JSON.parse((await nkit(env, 'policy', 'show', 'kt-nolist', '--json')).stdout).policy, { name: 'web' }, 'the new policy is in force');
  const log = readFileSync(join(env.runDir, 'nkit.log'), 'utf8');
  t.match(log, /"level":40[^\n]*"id":"kt-nolist"[^\n]*cannot carry its open connections/, 'and in the log, as a warning');
  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
});

t.test('a bad or unknown policy stops the container with nothing created', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const bad = writePolicy(env, 'bad', { egress: [{ cidr: '10.0.0.0/8', proto: 'tcp', ports: '80' }, { cidr: '0.0.0.0/0', proto: 'icmp', ports: '1' }] });
  writePolicy(env, 'badport', { ingress: [{ cidr: '10.0.0.0/8', proto: 'udp', ports: '70000' }] });
  writePolicy(env, 'badcidr', { egress: [{ cidr: '10.0.0.1/8', proto: 'tcp' }] });
  const cases: Array<[string, RegExp]> = [
    ['bad', new RegExp(`policy ${bad}: egress\\[1\\]: ports given for proto icmp`)],
    ['badport', /badport\.json: ingress\[0\]: port 70000 is out of range/],
    ['badcidr', /badcidr\.json: egress\[0\]: .*host bits are set/],
    ['nosuch', /unknown policy "nosuch" \(from annotation org\.nkit\.policy\): no file .*nosuch\.json/],
  ];
  for (const [name, re] of cases) {
    const c = await fakeContainer(t, `kt-${name}`, { annotations: { 'org.nkit.policy': name } });
    const r = await runHook(t, env, host.name, 'createRuntime', c.state());
    t.equal(r.code, 1, `${name}: setup fails`);
    t.match(r.stderr, re, `${name}: the file, the rule and the reason`);
    t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] }, `${name}: nothing created`);
  }
  const loose = join(env.config.policiesDir as string, 'loose.json');
  writeFileSync(loose, '{}');
  chmodSync(loose, 0o666);
  const c = await fakeContainer(t, 'kt-loose', { annotations: { 'org.nkit.policy': 'loose' } });
  const r = await runHook(t, env, host.name, 'createRuntime', c.state());
  t.match(r.stderr, /loose\.json is group- or world-writable/, 'a world-writable policy file is refused');
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
});
