// Which runtimes nkit is wired into, read from fake /etc, /usr and /opt trees;
// and the shipped packaging files agree with what the report suggests.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import {
  hooksDFile, parseContainerdVersion, parseHookFile, scanToml, specHooks, wiringReport, type RuntimeWiring, type WiringOptions,
} from '../../src/integrations/wiring';

const repo = join(__dirname, '..', '..', '..');
const HOOK = '/usr/libexec/nkit/nkit-oci-hook';

// A fake root holding etc/, usr/ and opt/; files are written relative to it.
function fakeRoot(t: { teardown(fn: () => void): void }): { root: string; opts: WiringOptions; put(p: string, text: string, mode?: number): void } {
  const root = mkdtempSync(join(tmpdir(), 'nkt-wiring-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const put = (p: string, text: string, mode = 0o644): void => {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
    chmodSync(join(root, p), mode);
  };
  const opts = { etcRoot: join(root, 'etc'), usrRoot: join(root, 'usr'), optRoot: join(root, 'opt'), versionOf: () => undefined };
  return { root, opts, put };
}
const exe = '#!/bin/sh\n';
const shipped = (name: string, variant = ''): string => readFileSync(join(repo, 'packaging', 'hooks.d', variant, name), 'utf8');
const of = (r: RuntimeWiring[], runtime: string): RuntimeWiring => r.find((x) => x.runtime === runtime)!;

t.test('the shipped hooks.d files and containerd snippet are what the report suggests', async (t) => {
  for (const [variant, match] of [['', 'annotation'], ['always', 'always']] as const) {
    const names = readdirSync(join(repo, 'packaging', 'hooks.d', variant)).filter((n) => n.endsWith('.json')).sort();
    t.same(names, ['nkit-create-runtime.json', 'nkit-poststop.json'], `packaging/hooks.d/${variant}`);
    t.same(JSON.parse(shipped('nkit-create-runtime.json', variant)), hooksDFile('createRuntime', match), `${variant || 'annotation'} createRuntime`);
    t.same(JSON.parse(shipped('nkit-poststop.json', variant)), hooksDFile('poststop', match), `${variant || 'annotation'} poststop`);
  }
  const snippet = JSON.parse(readFileSync(join(repo, 'packaging', 'containerd', 'nkit-hooks.json'), 'utf8'));
  t.same(snippet, { hooks: specHooks() }, 'packaging/containerd/nkit-hooks.json');
  const key = Object.keys((hooksDFile('createRuntime', 'annotation') as { when: { annotations: object } }).when.annotations)[0]!;
  t.ok(new RegExp(key).test('org.nkit.network'), 'the annotation regexp matches org.nkit.network');
  t.notOk(new RegExp(key).test('org.nkit.networks') || new RegExp(key).test('orgXnkit.network'), 'and nothing else');
});

t.test('nothing installed: nothing found', async (t) => {
  const f = fakeRoot(t);
  const r = wiringReport(f.opts);
  t.same(r.map((x) => x.runtime), ['podman', 'cri-o', 'containerd', 'runc', 'crun']);
  t.ok(r.every((x) => !x.found && !x.wired && x.fix === undefined));
});

t.test('podman: the shipped files in /usr/share wire it', async (t) => {
  const f = fakeRoot(t);
  f.put('usr/bin/podman', exe, 0o755);
  f.put('usr/libexec/nkit/nkit-oci-hook', exe, 0o755);
  const before = of(wiringReport(f.opts), 'podman');
  t.match(before, { found: true, wired: false, detail: /no hooks.d file runs nkit-oci-hook/ });
  t.match(before.fix, /add \/usr\/share\/containers\/oci\/hooks\.d\/nkit-create-runtime\.json and \/usr\/share\/containers\/oci\/hooks\.d\/nkit-poststop\.json/);
  f.put('usr/share/containers/oci/hooks.d/nkit-create-runtime.json', shipped('nkit-create-runtime.json'));
  f.put('usr/share/containers/oci/hooks.d/nkit-poststop.json', shipped('nkit-poststop.json'));
  const after = of(wiringReport(f.opts), 'podman');
  t.match(after, { found: true, wired: true, detail: /nkit-create-runtime\.json \(createRuntime; when annotations \^org/ });
  t.equal(after.fix, undefined);
});

t.test('podman: by default it reads /usr/share/containers/oci/hooks.d only, not /etc/containers/oci/hooks.d', async (t) => {
  const f = fakeRoot(t);
  f.put('usr/bin/podman', exe, 0o755);
  f.put('usr/libexec/nkit/nkit-oci-hook', exe, 0o755);
  f.put('etc/containers/oci/hooks.d/nkit-create-runtime.json', shipped('nkit-create-runtime.json'));
  f.put('etc/containers/oci/hooks.d/nkit-poststop.json', shipped('nkit-poststop.json'));
  t.match(of(wiringReport(f.opts), 'podman'), {
    wired: false, detail: /hooks dirs \/usr\/share\/containers\/oci\/hooks\.d: no hooks.d file/, fix: /^add \/usr\/share\/containers\/oci\/hooks\.d\/nkit-create-runtime\.json/,
  });
});

t.test('podman: with hooks_dir naming both, an /etc file of the same name masks the /usr/share one', async (t) => {
  const f = fakeRoot(t);
  f.put('usr/bin/podman', exe, 0o755);
  f.put('etc/containers/containers.conf', '[engine]\nhooks_dir = ["/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d"]\n');
  f.put('usr/libexec/nkit/nkit-oci-hook', exe, 0o755);
  f.put('usr/share/containers/oci/hooks.d/nkit-create-runtime.json', shipped('nkit-create-runtime.json'));
  f.put('usr/share/containers/oci/hooks.d/nkit-poststop.json', shipped('nkit-poststop.json'));
  f.put('etc/containers/oci/hooks.d/nkit-poststop.json', JSON.stringify({ version: '1.0.0', hook: { path: '/bin/true' }, when: { always: true }, stages: ['poststop'] }));
  const r = of(wiringReport(f.opts), 'podman');
  t.match(r, { wired: false, detail: /setup only: .*nothing runs nkit-oci-hook poststop/, fix: /^add \/etc\/containers\/oci\/hooks\.d\/nkit-create-runtime\.json/ });
  // The always variant in /etc masks the annotation-matched files of the same names.
  f.put('etc/containers/oci/hooks.d/nkit-poststop.json', shipped('nkit-poststop.json', 'always'));
  f.put('etc/containers/oci/hooks.d/nkit-create-runtime.json', shipped('nkit-create-runtime.json', 'always'));
  t.match(of(wiringReport(f.opts), 'podman'), { wired: true, detail: /etc\/containers\/oci\/hooks\.d\/nkit-create-runtime\.json \(createRuntime; when always\)/ });
});

t.test('podman: a hook file whose executable is missing, or whose argv names another stage, does not count', async (t) => {
  const f = fakeRoot(t);
  f.put('usr/bin/podman', exe, 0o755);
  f.put('usr/share/containers/oci/hooks.d/nkit-create-runtime.json', shipped('nkit-create-runtime.json'));
  f.put('usr/share/containers/oci/hooks.d/nkit-poststop.json', shipped('nkit-poststop.json'));
  t.match(of(wiringReport(f.opts), 'podman'), { wired: false, detail: /point at \/usr\/libexec\/nkit\/nkit-oci-hook, which is not an executable/ });
  f.put('usr/libexec/nkit/nkit-oci-hook', exe, 0o644);
  t.match(of(wiringReport(f.opts), 'podman'), { wired: false }, 'not executable');
  f.put('usr/libexec/nkit/nkit-oci-hook', exe, 0o755);
  t.match(of(wiringReport(f.opts), 'podman'), { wired: true });
  const wrong = { ...hooksDFile('poststop', 'annotation'), stages: ['createRuntime'] };
  f.put('usr/share/containers/oci/hooks.d/nkit-create-runtime.json', JSON.stringify(wrong));
  t.match(of(wiringReport(f.opts), 'podman'), { wired: false, detail: /teardown only/ }, 'runs at createRuntime but tears down');
});

t.test('podman: containers.conf hooks_dir replaces the default dirs', async (t) => {
  const f = fakeRoot(t);
  f.put('usr/bin/podman', exe, 0o755);
  f.put(`usr/libexec/nkit/nkit-oci-hook`, exe, 0o755);
  f.put('usr/share/containers/oci/hooks.d/nkit-create-runtime.json', shipped('nkit-create-runtime.json'));
  f.put('usr/share/containers/oci/hooks.d/nkit-poststop.json', shipped('nkit-poststop.json'));
  f.put('etc/containers/containers.conf.d/10-hooks.conf', '[engine]\n# ours\nhooks_dir = ["/etc/nkit/hooks.d"]  # only this one\n');
  const r = of(wiringReport(f.opts), 'podman');
  t.match(r, { wired: false, detail: /hooks dirs \/etc\/nkit\/hooks\.d:/, fix: /add \/etc\/nkit\/hooks\.d\/nkit-create-runtime\.json/ });
  f.put('etc/nkit/hooks.d/nkit-create-runtime.json', shipped('nkit-create-runtime.json'));
  f.put('etc/nkit/hooks.d/nkit-poststop.json', shipped('nkit-poststop.json'));
  t.match(of(wiringReport(f.opts), 'podman'), { wired: true });
});

t.test('cri-o: hooks_dir from crio.conf.d, multi-line; the legacy 0.1.0 format', async (t) => {
  const f = fakeRoot(t);
  f.put('usr/local/bin/crio', exe, 0o755);
  f.put('opt/nkit/hooks/nkit-oci-hook', exe, 0o755);
  f.put('etc/crio/crio.conf', '[crio.runtime]\nhooks_dir = ["/usr/share/containers/oci/hooks.d"]\n');
  f.put('etc/crio/crio.conf.d/50-nkit.conf', '[crio.runtime]\nhooks_dir = [\n  "/etc/crio/hooks.d",  # nkit\n]\n');
  const legacy = (stage: string): string => JSON.stringify({ hook: '/opt/nkit/hooks/nkit-oci-hook', arguments: [stage], stage: [stage], annotations: ['org.nkit.network'] });
  f.put('etc/crio/hooks.d/a.json', legacy('createRuntime'));
  f.put('etc/crio/hooks.d/b.json', legacy('poststop'));
  f.put('etc/crio/hooks.d/notes.txt', 'ignored');
  t.match(of(wiringReport(f.opts), 'cri-o'), { found: true, wired: true, detail: /^\/usr\/local\/bin\/crio, hooks dirs \/etc\/crio\/hooks\.d: / });
});

t.test('containerd 1.6: no NRI; a base_runtime_spec with the hooks wires it', async (t) => {
  const f = fakeRoot(t);
  f.put('usr/bin/containerd', exe, 0o755);
  f.put('usr/libexec/nkit/nkit-oci-hook', exe, 0o755);
  const opts = { ...f.opts, versionOf: () => 'containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3' };
  const before = of(wiringReport(opts), 'containerd');
  t.match(before, { found: true, wired: false, detail: 'containerd 1.6; no NRI (needs 1.7)', fix: /ctr oci spec \| \/usr\/share\/nkit\/containerd\/nkit-base-spec/ });
  f.put('etc/containerd/config.toml', [
    'version = 2',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '  runtime_type = "io.containerd.runc.v2"',
    '  base_runtime_spec = "/etc/nkit/containerd-spec.json"',
  ].join('\n'));
  f.put('etc/nkit/containerd-spec.json', JSON.stringify({ ociVersion: '1.0.2', hooks: specHooks() }));
  t.match(of(wiringReport(opts), 'containerd'), { wired: true, detail: /base_runtime_spec \/etc\/nkit\/containerd-spec\.json: carries nkit-oci-hook/ });
  f.put('etc/nkit/containerd-spec.json', JSON.stringify({ ociVersion: '1.0.2', hooks: { createRuntime: specHooks().createRuntime } }));
  t.match(of(wiringReport(opts), 'containerd'), { wired: false, detail: /lacks nkit-oci-hook/ });
});

t.test('containerd 1.7: NRI off by default; enabled through an import, the injector and hooks.d wire it', async (t) => {
  const f = fakeRoot(t);
  f.put('usr/bin/containerd', exe, 0o755);
  f.put('usr/libexec/nkit/nkit-oci-hook', exe, 0o755);
  const opts = { ...f.opts, versionOf: () => 'containerd github.com/containerd/containerd v1.7.24 61f9fd88' };
  const r0 = of(wiringReport(opts), 'containerd');
  t.match(r0, { wired: false, detail: 'containerd 1.7; NRI off; no NRI hook injector' });
  t.match(r0.fix, /set disable = false in \[plugins\."io\.containerd\.nri\.v1\.nri"\] of \/etc\/containerd\/config\.toml/);
  t.match(r0.fix, /10-hook-injector/);
  t.match(r0.fix, /add \/usr\/share\/containers\/oci\/hooks\.d\/nkit-create-runtime\.json/);
  f.put('etc/containerd/config.toml', 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml"]\n');
  f.put('etc/containerd/conf.d/nri.toml', readFileSync(join(repo, 'packaging', 'containerd', 'nri.toml'), 'utf8'));
  f.put('usr/local/bin/hook-injector', exe, 0o755);
  mkdirSync(join(f.root, 'opt/nri/plugins'), { recursive: true });
  symlinkSync(join(f.root, 'usr/local/bin/hook-injector'), join(f.root, 'opt/nri/plugins/10-hook-injector'));
  const r1 = of(wiringReport(opts), 'containerd');
  t.match(r1, { wired: false, detail: 'containerd 1.7; NRI on; hook injector /opt/nri/plugins/10-hook-injector; hooks.d: no hooks.d file runs nkit-oci-hook' });
  t.notMatch(r1.fix, /disable = false|hook-injector/, 'only what is missing is asked for');
  f.put('etc/containers/oci/hooks.d/nkit-create-runtime.json', shipped('nkit-create-runtime.json'));
  f.put('etc/containers/oci/hooks.d/nkit-poststop.json', shipped('nkit-poststop.json'));
  t.match(of(wiringReport(opts), 'containerd'), { wired: true });
});

t.test('containerd 2.x: NRI on unless disabled; an injector run by systemd counts', async (t) => {
  const f = fakeRoot(t);
  f.put('usr/bin/containerd', exe, 0o755);
  f.put('usr/libexec/nkit/nkit-oci-hook', exe, 0o755);
  f.put('etc/containers/oci/hooks.d/nkit-create-runtime.json', shipped('nkit-create-runtime.json'));
  f.put('etc/containers/oci/hooks.d/nkit-poststop.json', shipped('nkit-poststop.json'));
  const opts = { ...f.opts, versionOf: () => 'containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7' };
  const r0 = of(wiringReport(opts), 'containerd');
  t.match(r0, { wired: false, detail: /^containerd 2\.1; NRI on; no NRI hook injector/ });
  t.notMatch(r0.fix, /disable = false/);
  f.put('etc/systemd/system/nri-hook-injector.service', '[Service]\nExecStart=/usr/local/bin/hook-injector -idx 10\n');
  t.match(of(wiringReport(opts), 'containerd'), { wired: true, detail: /hook injector \/etc\/systemd\/system\/nri-hook-injector\.service/ });
  f.put('etc/containerd/config.toml', 'version = 3\n[plugins."io.containerd.nri.v1.nri"]\n  disable = true\n');
  t.match(of(wiringReport(opts), 'containerd'), { wired: false, detail: /NRI off/, fix: /set disable = false/ });
});

t.test('runc and crun: hooks are per bundle; the fix is the config.json snippet', async (t) => {
  const f = fakeRoot(t);
  f.put('usr/sbin/runc', exe, 0o755);
  const r = wiringReport({ ...f.opts, hookPath: '/opt/nkit/hooks/nkit-oci-hook' });
  t.match(of(r, 'runc'), { found: true, wired: false, detail: /^\/usr\/sbin\/runc: hooks are per bundle/ });
  t.same(JSON.parse(`{${of(r, 'runc').fix}}`), { hooks: specHooks('/opt/nkit/hooks/nkit-oci-hook') });
  t.match(of(r, 'crun'), { found: false, detail: 'crun not found' });
});

t.test('parseHookFile', async (t) => {
  t.same(parseHookFile(JSON.stringify(hooksDFile('poststop', 'always'))), { path: HOOK, args: ['nkit-oci-hook', 'poststop'], stages: ['poststop'], when: 'always' });
  t.same(parseHookFile('{"hook": "/x", "arguments": ["a"], "stage": ["prestart"]}'), { path: '/x', args: ['/x', 'a'], stages: ['prestart'], when: 'always' });
  t.equal(parseHookFile('not json'), undefined);
  t.equal(parseHookFile('{"version": "2.0.0", "hook": {}}'), undefined);
});

t.test('scanToml: comments, quoted table names, multi-line arrays', async (t) => {
  const e = scanToml([
    'version = 2 # top',
    '[plugins."io.containerd.nri.v1.nri"]',
    '  disable = false',
    '  socket_path = "/var/run/nri/nri.sock" # "#" inside quotes stays',
    '[ crio.runtime ]',
    "hooks_dir = [ '/a', # one",
    '  "/b#c",',
    ']',
    'key_with_table = { inline = 1 }',
  ].join('\n'));
  t.same(e, [
    { table: '', key: 'version', value: 2 },
    { table: 'plugins."io.containerd.nri.v1.nri"', key: 'disable', value: false },
    { table: 'plugins."io.containerd.nri.v1.nri"', key: 'socket_path', value: '/var/run/nri/nri.sock' },
    { table: 'crio.runtime', key: 'hooks_dir', value: ['/a', '/b#c'] },
  ]);
});

t.test('parseContainerdVersion', async (t) => {
  t.same(parseContainerdVersion('containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3'), [1, 6]);
  t.same(parseContainerdVersion('containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da'), [1, 7]);
  t.same(parseContainerdVersion('containerd github.com/containerd/containerd/v2 v2.0.0 207ad71'), [2, 0]);
  t.equal(parseContainerdVersion(undefined), undefined);
  t.equal(parseContainerdVersion('garbage'), undefined);
});
