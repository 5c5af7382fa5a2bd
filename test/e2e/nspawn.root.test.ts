// systemd-nspawn (Debian's 252) through nkit-nspawn: a busybox tree booted
// with --as-pid2 gets nkit's eth0 and the policy holds; when nspawn exits,
// or is killed, nothing is left; up/down work on their own for units.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildRootfs } from '../lib/rootfs';
import { run } from '../lib/exec';
import { ipLink } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { leftovers, nkitEnv, type NkitTestEnv } from '../lib/nkit';
import { repoRoot } from '../lib/paths';
import { tempDir } from '../lib/scope';
import { firstReason, rootSkipReason, toolsSkipReason } from '../lib/skip';
import { waitFor } from '../lib/wait';

const HELPER = join(repoRoot, 'hooks', 'nkit-nspawn');
const skip = firstReason(rootSkipReason(), toolsSkipReason(['systemd-nspawn']));
// Without systemd as PID 1 here: no machined registration, no unit of its own.
const NSPAWN_FLAGS = ['--as-pid2', '--register=no', '--keep-unit', '-q'];
const NOTHING = { devices: [], routes: [], files: [], pins: [] };

// A busybox tree nspawn accepts as an OS tree (it wants /usr and os-release).
async function machineTree(t: Test): Promise<string> {
  const dir = await tempDir(t, 'nkt-nspawn-');
  const root = await buildRootfs(join(dir, 'root'));
  mkdirSync(join(root, 'usr', 'lib'), { recursive: true });
  writeFileSync(join(root, 'usr', 'lib', 'os-release'), 'ID=busybox\nNAME=busybox\n');
  return root;
}

const inHost = (host: string, argv: string[]) => ['nsenter', `--net=/run/netns/${host}`, ...argv];
const netnsLeft = (env: NkitTestEnv, name: string) => existsSync(join(env.runDir, 'netns', name));

t.test('run mode: eth0, policy, teardown after exit', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const root = await machineTree(t);
  const name = `m-${process.pid}`;
  const script = 'ip -o addr show dev eth0; ip route; ping -c 1 -W 2 10.213.0.1 >/dev/null && echo PING=ok || echo PING=fail';
  const r = await run(inHost(host.name, [HELPER, '--config', env.configPath, '--machine', name, '--', 'systemd-nspawn', '-D', root, ...NSPAWN_FLAGS, 'sh', '-c', script]), { timeoutMs: 60_000 });
  t.equal(r.code, 0, `exit 0 (${r.stderr.trim()})`);
  t.match(r.stdout, /inet 10\.213\.0\.2\/24/, 'eth0 has the IPv4 address');
  t.match(r.stdout, /inet6 fd6e:6b69:74::2\/64/, 'and the IPv6 one');
  t.match(r.stdout, /default dev eth0/, 'default route via eth0');
  t.match(r.stdout, /PING=ok/, 'allow-all: it reaches the host address');
  t.same(await leftovers(env, host.name), NOTHING, 'nothing left');
  t.notOk(netnsLeft(env, name), 'the machine namespace is gone');
});

t.test('deny-all holds, and the exit code passes through', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const root = await machineTree(t);
  const r = await run(inHost(host.name, [HELPER, '--config', env.configPath, '--machine', `d-${process.pid}`, '--', 'systemd-nspawn', '-D', root, ...NSPAWN_FLAGS,
    'sh', '-c', 'ping -c 1 -W 1 10.213.0.1 >/dev/null && echo PING=ok || echo PING=fail; exit 7']), { timeoutMs: 60_000 });
  t.equal(r.code, 7, 'nspawn\'s exit code');
  t.match(r.stdout, /PING=fail/, 'deny-all: nothing passes');
  t.same(await leftovers(env, host.name), NOTHING);
});

t.test('nspawn killed: still torn down', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const root = await machineTree(t);
  const name = `k-${process.pid}`;
  const child = spawn(inHost(host.name, [])[0]!, [...inHost(host.name, []).slice(1), HELPER, '--config', env.configPath, '--machine', name, '--',
    'systemd-nspawn', '-D', root, ...NSPAWN_FLAGS, 'sleep', '60'], { stdio: 'ignore' });
  const done = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  t.ok(await waitFor(() => existsSync(join(env.runDir, 'containers', `${name}.json`)) && JSON.parse(readFileSync(join(env.runDir, 'containers', `${name}.json`), 'utf8')).state === 'ready', { timeoutMs: 30_000 }), 'machine up');
  const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', `${name}.json`), 'utf8'));
  t.ok(await ipLink(rec.primary.name, { netns: host.name }), 'host side device exists');
  // Kill nspawn itself (the helper's child), not the helper.
  // Its command line starts with the option nkit adds (the helper's does not).
  const pids = (await run(['pgrep', '-f', '^systemd-nspawn --network-namespace-path=.*' + root])).stdout.trim().split('\n').filter(Boolean);
  t.ok(pids.length > 0, 'found nspawn');
  for (const p of pids) process.kill(Number(p), 'SIGKILL');
  const code = await done;
  t.not(code, 0, `the helper reports nspawn's death (exit ${code})`);
  t.same(await leftovers(env, host.name), NOTHING, 'nothing left');
  t.notOk(netnsLeft(env, name), 'the machine namespace is gone');
});

t.test('up and down for units', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const root = await machineTree(t);
  const name = `u-${process.pid}`;
  const up = await run(inHost(host.name, [HELPER, '--config', env.configPath, 'up', name]), { timeoutMs: 30_000 });
  t.equal(up.code, 0, `up (${up.stderr.trim()})`);
  const nsPath = up.stdout.trim();
  t.equal(nsPath, join(env.runDir, 'netns', name), 'up prints the namespace path');
  const again = await run(inHost(host.name, [HELPER, '--config', env.configPath, 'up', name]), { timeoutMs: 30_000 });
  t.equal(again.code, 0, 'a second up is a no-op');
  const r = await run(inHost(host.name, ['systemd-nspawn', '-D', root, ...NSPAWN_FLAGS, `--network-namespace-path=${nsPath}`, 'ip', '-o', 'addr', 'show', 'dev', 'eth0']), { timeoutMs: 30_000 });
  t.match(r.stdout, /inet 10\.213\.0\.2\/24/, 'a plain nspawn with the path sees eth0');
  for (let i = 0; i < 2; i++) {
    const down = await run(inHost(host.name, [HELPER, '--config', env.configPath, 'down', name]), { timeoutMs: 30_000 });
    t.equal(down.code, 0, `down #${i + 1}`);
  }
  t.same(await leftovers(env, host.name), NOTHING);
  t.notOk(netnsLeft(env, name));
});

t.test('bad input: no machine, network options of its own, bad name', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const cases: Array<[string[], RegExp]> = [
    [['--', 'systemd-nspawn', '-D', '/'], /--machine NAME is required/],
    [['--machine', 'x', '--', 'systemd-nspawn', '--private-network'], /option --private-network conflicts with nkit's network/],
    [['--machine', 'x', '--', 'systemd-nspawn', '--network-veth'], /--network-veth conflicts/],
    [['--machine', '../etc', '--', 'systemd-nspawn'], /invalid container id/],
    [['--machine', 'x'], /no nspawn command line after --/],
  ];
  for (const [args, re] of cases) {
    const r = await run(inHost(host.name, [HELPER, '--config', env.configPath, ...args]), { timeoutMs: 30_000 });
    t.not(r.code, 0, args.join(' '));
    t.match(r.stderr, re);
    t.same(await leftovers(env, host.name), NOTHING);
  }
});
