// The test library's pure parts: paths, fixtures, bundle config edits, runtime command lines.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { applyBundleOptions, type OciConfig } from '../lib/bundle';
import { run } from '../lib/exec';
import { hostMountsArgv } from '../lib/netns';
import { fixturePath, fixturesDir, repoRoot } from '../lib/paths';
import { runtimeArgv } from '../lib/runtime';

const spec = (rt: string): OciConfig =>
  JSON.parse(readFileSync(fixturePath(`${rt}-spec-config.json`), 'utf8')) as OciConfig;

t.test('paths: repo root and the in-repo fixture copy', async (t) => {
  t.ok(existsSync(join(repoRoot, 'package.json')));
  t.ok(fixturesDir.startsWith(repoRoot));
  for (const f of ['runc-1.1.5-createRuntime-state.json', 'crun-1.8.1-poststop-state.json']) {
    t.ok(existsSync(fixturePath(f)), f);
  }
});

t.test('bundle options: runc spec edited for a test', async (t) => {
  const base = spec('runc-1.1.5');
  const hook = { path: '/h', args: ['/h', 'createRuntime'], env: ['PATH=/bin'], timeout: 5 };
  const c = applyBundleOptions(base, {
    args: ['sh', '-c', 'true'],
    hostname: 'c1',
    annotations: { 'org.nkit.network': 'default' },
    hooks: { createRuntime: [hook] },
  });
  t.equal(c.process.terminal, false);
  t.same(c.process.args, ['sh', '-c', 'true']);
  t.equal(c.root.readonly, false);
  t.equal(c.hostname, 'c1');
  t.same(c.hooks?.createRuntime, [hook]);
  t.same(c.linux?.namespaces?.find((n) => n.type === 'network'), { type: 'network' }, 'new netns by default');
  t.ok(c.linux?.resources, 'runc keeps linux.resources');
  t.same(c.process.rlimits, base.process.rlimits);
  t.equal(base.process.terminal, true, 'input not mutated');

  const joined = applyBundleOptions(base, { args: ['true'], netnsPath: '/run/netns/x', runtime: 'crun', rlimits: null });
  t.same(joined.linux?.namespaces?.filter((n) => n.type === 'network'), [{ type: 'network', path: '/run/netns/x' }]);
  t.notOk('resources' in (joined.linux ?? {}), 'crun: no linux.resources');
  t.notOk('rlimits' in joined.process);
});

t.test('runtime command line: netns, private mounts, cgroup2, private state root', async (t) => {
  const argv = runtimeArgv(
    { runtime: 'crun', stateRoot: '/s', scratchDir: '/m', hostNetns: 'h' },
    ['run', '--bundle', '/b', 'id1'],
  );
  t.same(argv.slice(0, 6), ['nsenter', '--net=/run/netns/h', 'unshare', '--mount', '--propagation', 'slave']);
  t.same(argv.slice(-9), ['/m', '1', 'crun', '--root', '/s', 'run', '--bundle', '/b', 'id1']);
  t.notOk(hostMountsArgv(['x'], { scratchDir: '/m' }).includes('nsenter'), 'no netns: stay where we are');
});

t.test('run: a timeout kills the whole process group', async (t) => {
  const started = Date.now();
  // The grandchild `sleep` shares the group; without a group kill `close` would wait 30 s.
  const r = await run(['sh', '-c', 'sleep 30 & sleep 30; echo never'], { timeoutMs: 300 });
  t.ok(r.timedOut);
  t.equal(r.signal, 'SIGKILL');
  t.notMatch(r.stdout, /never/);
  t.ok(Date.now() - started < 5_000, 'returned promptly');
  const ok = await run(['sh', '-c', 'cat; echo err >&2; exit 3'], { input: 'in' });
  t.same([ok.code, ok.stdout, ok.stderr, ok.timedOut], [3, 'in', 'err\n', false]);
});
