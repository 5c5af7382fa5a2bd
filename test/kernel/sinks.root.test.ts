// The real hook (and the CLI commands that take an id) against untrusted
// values, one test per sink: a nasty container id, network, policy name or
// bundle path creates no file under runDir, bpffsDir or next to them, no
// device, and fails with one clean line in bounded time. Then operator
// files: config and policy files that are not root's, group/world-writable
// or not regular files are refused.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { run, type RunResult } from '../lib/exec';
import { fakeContainer, type FakeContainer } from '../lib/hookrun';
import { containerPins, ipLinks, listFiles } from '../lib/kernel';
import { createNetns, hostMountsArgv, type Netns } from '../lib/netns';
import { CLI, HOOK, leftovers, nkitEnv, PINS, type NkitTestEnv } from '../lib/nkit';
import { repoRoot } from '../lib/paths';
import { tempDir } from '../lib/scope';
import { rootSkipReason } from '../lib/skip';

const skip = rootSkipReason();
const NOTHING = { devices: [], routes: [], files: [], pins: [] };
const NSPAWN = join(repoRoot, 'hooks', 'nkit-nspawn');
// Ids that would escape a directory or break a name if used as they are.
const PATH_IDS = ['../../escape', '..', '.', 'a/b', '/abs', '../escape', 'x'.repeat(200), 'a\nb', 'a\0b', ' ', '-rf', '.hidden', '~'];

// Runs the hook in the host netns with a time bound; `config` replaces --config.
// `node`: the Node hook itself, without the native client in front.
async function hook(t: Test, env: NkitTestEnv, host: Netns, stage: string, input: unknown, o: { config?: string; timeoutMs?: number; node?: boolean } = {}): Promise<RunResult> {
  const scratch = await tempDir(t, 'nkt-mnt-');
  const exe = o.node ? [process.execPath, join(repoRoot, 'dist', 'hooks', 'oci-hook.js')] : [HOOK];
  const argv = hostMountsArgv([...exe, '--config', o.config ?? env.configPath, stage], { netns: host.name, scratchDir: scratch });
  return run(argv, {
    input: typeof input === 'string' ? input : JSON.stringify(input),
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    timeoutMs: o.timeoutMs ?? 30_000,
  });
}

// Everything a run could create: runDir and bpffsDir trees, what lies next
// to them (where "../x" would land), and the host's devices.
async function snapshot(env: NkitTestEnv, host: Netns): Promise<Record<string, string[]>> {
  return {
    runDir: (await listFiles(env.runDir)).filter((f) => f !== 'nkit.log'),
    besideRunDir: await listFiles(dirname(env.runDir)).then((l) => l.filter((f) => !f.startsWith('run/'))),
    bpffsDir: await containerPins(env.bpffsDir),
    devices: (await ipLinks({ netns: host.name })).map((l) => l.ifname).sort(),
  };
}

// The failure an operator sees: exit 1 and one line on stderr.
function cleanFailure(t: Test, r: RunResult, re: RegExp, what: string): void {
  t.equal(r.timedOut, false, `${what}: no hang`);
  t.equal(r.code, 1, `${what}: exit 1`);
  t.match(r.stderr, re, `${what}: ${r.stderr.trim().slice(0, 160)}`);
  t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one stderr line`);
  t.notMatch(r.stderr, /unexpected error/, `${what}: an NkitError, not a crash`);
}

async function setUp(t: Test, o: { subnets?: string[] } = {}): Promise<{ host: Netns; env: NkitTestEnv; c: FakeContainer }> {
  const host = await createNetns(t);
  const env = await nkitEnv(t, o.subnets ? { subnets: o.subnets } : {});
  const c = await fakeContainer(t, 'kt-sink');
  return { host, env, c };
}

t.test('record file <runDir>/containers/<id>.json: a nasty id creates nothing', { skip }, async (t) => {
  const { host, env, c } = await setUp(t);
  const before = await snapshot(env, host);
  for (const id of PATH_IDS) {
    for (const stage of ['createRuntime', 'poststop']) {
      const r = await hook(t, env, host, stage, { ...c.state(), id });
      cleanFailure(t, r, /invalid container id/, `${stage} ${JSON.stringify(id).slice(0, 20)}`);
    }
  }
  t.same(await snapshot(env, host), before, 'no file, pin or device appeared anywhere');
});

t.test('lock file <runDir>/locks/<id>.lock: nkit policy apply and nkit-nspawn down (and the other commands taking an id) refuse a nasty id before locking', { skip }, async (t) => {
  const { host, env } = await setUp(t);
  mkdirSync(env.runDir, { recursive: true });
  const before = await snapshot(env, host);
  for (const id of ['../../escape', '../escape', 'a/b', '..']) {
    const apply = await run([CLI, '--config', env.configPath, 'policy', 'apply', id, 'deny-all']);
    t.not(apply.code, 0, `nkit policy apply ${id} fails`);
    t.match(apply.stderr, /invalid container id/, 'naming the id');
    const down = await run([NSPAWN, '--config', env.configPath, 'down', id]);
    t.not(down.code, 0, `nkit-nspawn down ${id} fails`);
    t.match(down.stderr, /invalid container id/, 'naming the id');
    for (const args of [['status', id], ['policy', 'show', id], ['stats', id], ['policy', 'test', id, '--dir', 'egress', '--to', '10.0.0.1', '--proto', 'tcp', '--port', '80']]) {
      const r = await run([CLI, '--config', env.configPath, ...args]);
      t.not(r.code, 0, `nkit ${args.slice(0, 2).join(' ')} fails`);
      t.match(r.stderr, /invalid container id/, 'naming the id');
    }
  }
  t.same(await snapshot(env, host), before, 'no lock file inside or outside runDir');
});

t.test('pin directory <bpffsDir>/<id>: a nasty id pins nothing; a dotted id fails cleanly', { skip }, async (t) => {
  const { host, env, c } = await setUp(t);
  const before = await containerPins(env.bpffsDir);
  for (const id of PATH_IDS) await hook(t, env, host, 'createRuntime', { ...c.state(), id });
  t.same(await containerPins(env.bpffsDir), before, 'nothing in bpffsDir');
  // Valid for OCI and for nkit's id check, but bpffs refuses names with dots.
  const r = await hook(t, env, host, 'createRuntime', { ...c.state(), id: 'web.1' });
  t.equal(r.code, 0, `an id with a dot gets a network (${r.stderr.trim()})`);
  t.notMatch(r.stderr, /unexpected error/, 'and never an unexpected error');
  await hook(t, env, host, 'poststop', { ...c.state('stopped'), id: 'web.1' });
  t.same(await leftovers(env, host.name), NOTHING, 'nothing left');
});

t.test('device name (IFLA_IFNAME) and owner alias (IFLA_IFALIAS): an odd but valid id', { skip }, async (t) => {
  const { host, env, c } = await setUp(t);
  const id = `A_b+c-${'9'.repeat(100)}`;
  const r = await hook(t, env, host, 'createRuntime', { ...c.state(), id });
  t.equal(r.code, 0, `setup of a ${id.length}-character id: ${r.stderr.trim()}`);
  const ours = (await ipLinks({ netns: host.name })).filter((l) => l.ifname.startsWith('nk'));
  t.equal(ours.length, 1, 'one host device');
  t.match(ours[0]?.ifname, /^nk[0-9a-f]{12}$/, 'named nk + 12 hex digits, not after the id');
  t.equal(ours[0]?.ifalias, `nkit:${id}`, 'the alias carries the whole id');
  t.same((await listFiles(join(env.bpffsDir, id))).sort(), [...PINS].sort(), 'pins under <bpffsDir>/<id>');
  t.equal((await hook(t, env, host, 'poststop', { ...c.state('stopped'), id })).code, 0);
  t.same(await leftovers(env, host.name), NOTHING);
});

t.test('lease directory <runDir>/ipam/<network>: a nasty network annotation creates nothing', { skip }, async (t) => {
  const { host, env, c } = await setUp(t);
  const before = await snapshot(env, host);
  for (const net of ['../escape', '../../x', 'a/b', '..', 'constructor', '__proto__', 'toString', 'Default', 'default\n']) {
    const r = await hook(t, env, host, 'createRuntime', { ...c.state(), annotations: { 'org.nkit.network': net } });
    cleanFailure(t, r, /org\.nkit\.network|unknown network/, `network ${JSON.stringify(net)}`);
  }
  t.same(await snapshot(env, host), { ...before, runDir: [...before.runDir!, 'locks/', 'locks/kt-sink.lock'].sort() }, 'no lease dir, record or device (only the id lock)');
});

t.test('policy file <policiesDir>/<name>.json: a nasty policy annotation reads nothing outside', { skip }, async (t) => {
  const { host, env, c } = await setUp(t);
  const policies = env.config.policiesDir as string;
  mkdirSync(policies, { recursive: true });
  // What traversal would find: a policy that lets everything through.
  writeFileSync(join(dirname(policies), 'escape.json'), '{"egress":[{"cidr":"0.0.0.0/0","proto":"any"}]}', { mode: 0o600 });
  for (const name of ['../escape', '..', 'a/b', '/etc/passwd', 'Allow-All', 'escape.json']) {
    const r = await hook(t, env, host, 'createRuntime', { ...c.state(), annotations: { 'org.nkit.policy': name } });
    cleanFailure(t, r, /org\.nkit\.policy/, `policy ${JSON.stringify(name)}`);
  }
  t.same(await leftovers(env, host.name), NOTHING, 'nothing created');
});

t.test('bundle network namespace path: only a namespace is opened, never blocking', { skip }, async (t) => {
  const { host, env } = await setUp(t);
  const dir = await tempDir(t, 'nkt-sink-ns-');
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  writeFileSync(join(dir, 'file'), 'x');
  const cases: Array<[string, RegExp]> = [
    [join(dir, 'fifo'), /is not a namespace file/],
    [join(dir, 'file'), /is not a namespace file/],
    [dir, /is not a namespace file/],
    ['/dev/null', /is not a namespace file/],
    [join(dir, 'missing'), /cannot open network namespace/],
    ['/proc/self/ns/net', /runtime's own network namespace/],
    ['relative/ns', /must be an absolute path/],
  ];
  for (const [path, re] of cases) {
    const c = await fakeContainer(t, 'kt-ns', { bundleConfig: { linux: { namespaces: [{ type: 'network', path }] } } });
    const r = await hook(t, env, host, 'createRuntime', c.state(), { timeoutMs: 15_000 });
    cleanFailure(t, r, re, path);
  }
  t.same(await leftovers(env, host.name), NOTHING, 'nothing created');
});

t.test('bundle config.json: a FIFO or a directory is refused, never blocking', { skip }, async (t) => {
  const { host, env, c } = await setUp(t);
  const file = join(c.bundle, 'config.json');
  rmSync(file);
  execFileSync('mkfifo', [file]);
  cleanFailure(t, await hook(t, env, host, 'createRuntime', c.state(), { timeoutMs: 15_000 }), /cannot read bundle config .*not a regular file/, 'FIFO');
  rmSync(file);
  mkdirSync(file);
  cleanFailure(t, await hook(t, env, host, 'createRuntime', c.state()), /cannot read bundle config .*not a regular file/, 'directory');
  t.same(await leftovers(env, host.name), NOTHING, 'nothing created');
});

t.test('log file <runDir>/nkit.log: nasty values leave one JSON record per line', { skip }, async (t) => {
  const { host, env, c } = await setUp(t);
  for (const v of ['a\nb', '"}{"x":1', '\u2028', '\\', '\u001b[31m']) {
    await hook(t, env, host, 'createRuntime', { ...c.state(), id: v, annotations: { 'org.nkit.network': v } });
    await hook(t, env, host, 'createRuntime', { ...c.state(), annotations: { 'org.nkit.network': v } });
  }
  const lines = readFileSync(join(env.runDir, 'nkit.log'), 'utf8').split('\n').filter(Boolean);
  t.ok(lines.length >= 10, `${lines.length} records`);
  const bad = lines.filter((l) => {
    try {
      return typeof JSON.parse(l) !== 'object';
    } catch {
      return true;
    }
  });
  t.same(bad, [], 'every line is a JSON object');
});

// ---------------------------------------------------------------- operator files

async function expectRefused(t: Test, env: NkitTestEnv, host: Netns, c: FakeContainer, re: RegExp, what: string, o: { config?: string; todo?: string; node?: boolean } = {}): Promise<void> {
  const r = await hook(t, env, host, 'createRuntime', c.state(), { timeoutMs: 15_000, ...(o.config ? { config: o.config } : {}), ...(o.node ? { node: true } : {}) });
  const todo = o.todo ? { todo: o.todo } : {};
  t.equal(r.timedOut, false, `${what}: no hang`, todo);
  t.equal(r.code, 1, `${what}: refused`, todo);
  t.match(r.stderr, re, `${what}: ${r.stderr.trim().slice(0, 200)}`, todo);
  t.same(await leftovers(env, host.name), NOTHING, `${what}: nothing created`);
}

t.test('a config not owned by root is refused', { skip }, async (t) => {
  const { host, env, c } = await setUp(t);
  chownSync(env.configPath, 65534, 65534);
  await expectRefused(t, env, host, c, /config\.json is owned by uid 65534, not root: refusing to use it/, 'owned by nobody');
  chownSync(env.configPath, 0, 65534);
  chmodSync(env.configPath, 0o640);
  const r = await hook(t, env, host, 'createRuntime', c.state());
  t.equal(r.code, 0, 'root-owned with another group, not group-writable: accepted');
  await hook(t, env, host, 'poststop', c.state('stopped'));
  t.same(await leftovers(env, host.name), NOTHING);
});

t.test('a group- or world-writable config is refused', { skip }, async (t) => {
  const { host, env, c } = await setUp(t);
  for (const mode of [0o620, 0o602, 0o666, 0o660]) {
    chmodSync(env.configPath, mode);
    await expectRefused(t, env, host, c, new RegExp(`config\\.json is group- or world-writable \\(mode ${mode.toString(8)}\\): refusing to use it \\(chmod go-w`), `mode ${mode.toString(8)}`);
  }
});

t.test('a config that is not a regular file is refused', { skip }, async (t) => {
  const { host, env, c } = await setUp(t);
  const dir = await tempDir(t, 'nkt-sink-cfg-');
  execFileSync('mkfifo', [join(dir, 'fifo.json')]);
  mkdirSync(join(dir, 'dir.json'));
  await expectRefused(t, env, host, c, /fifo\.json is not a regular file: refusing to use it/, 'FIFO (Node hook)', { config: join(dir, 'fifo.json'), node: true });
  // Through the native hook client, which reads runDir from the config first.
  await expectRefused(t, env, host, c, /fifo\.json is not a regular file: refusing to use it/, 'FIFO (installed hook)', { config: join(dir, 'fifo.json') });
  await expectRefused(t, env, host, c, /dir\.json is not a regular file: refusing to use it/, 'directory', { config: join(dir, 'dir.json') });
});

t.test('policy files not owned by root, group- or world-writable, or not regular are refused', { skip }, async (t) => {
  const { host, env } = await setUp(t);
  const dir = env.config.policiesDir as string;
  mkdirSync(dir, { recursive: true });
  const body = '{"egress":[{"cidr":"10.0.0.0/8","proto":"tcp","ports":"80"}]}';
  const cases: Array<[string, (f: string) => void, RegExp]> = [
    ['nobody', (f) => chownSync(f, 65534, 65534), /nobody\.json is owned by uid 65534, not root/],
    ['groupw', (f) => chmodSync(f, 0o660), /groupw\.json is group- or world-writable \(mode 660\)/],
    ['worldw', (f) => chmodSync(f, 0o646), /worldw\.json is group- or world-writable \(mode 646\)/],
  ];
  for (const [name, spoil, re] of cases) {
    const f = join(dir, `${name}.json`);
    writeFileSync(f, body, { mode: 0o644 });
    spoil(f);
    const c = await fakeContainer(t, `kt-${name}`, { annotations: { 'org.nkit.policy': name } });
    await expectRefused(t, env, host, c, re, `policy ${name}`);
  }
  execFileSync('mkfifo', [join(dir, 'fifo.json')]);
  const c = await fakeContainer(t, 'kt-fifo', { annotations: { 'org.nkit.policy': 'fifo' } });
  await expectRefused(t, env, host, c, /fifo\.json is not a regular file/, 'policy FIFO');
  // The same file made right is accepted.
  const ok = join(dir, 'good.json');
  writeFileSync(ok, body, { mode: 0o644 });
  const g = await fakeContainer(t, 'kt-good', { annotations: { 'org.nkit.policy': 'good' } });
  t.equal((await hook(t, env, host, 'createRuntime', g.state())).code, 0, 'a root-owned 0644 policy is used');
  await hook(t, env, host, 'poststop', g.state('stopped'));
  t.same(await leftovers(env, host.name), NOTHING);
});
