// The Debian package end to end: build it (packaging/deb/build-deb, or take
// NKIT_DEB), install it with dpkg on this machine, run a busybox runc
// container whose hooks are only the installed /usr/libexec/nkit/nkit-oci-hook,
// purge the package and check nothing of nkit's is left on the system.
// The container runs in a test-created "host" netns with a test config (the
// installed /etc/nkit/config.json with a private runDir, bpffsDir and
// policiesDir, passed with --config), so /run/nkit, /sys/fs/bpf/nkit and the
// real host network are never touched. Teardown purges even after a failure.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { createBundle, type HookStage, type OciHook } from '../lib/bundle';
import { findExecutable, run, runOk, type RunResult } from '../lib/exec';
import { containerPins, ipLink, ipLinks, listFiles } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { repoRoot } from '../lib/paths';
import { runtimeRun, runtimeSkipReason } from '../lib/runtime';
import { defer, tempDir, type Scope } from '../lib/scope';
import { firstReason, toolsSkipReason } from '../lib/skip';
import { waitFor } from '../lib/wait';

const HOOK = '/usr/libexec/nkit/nkit-oci-hook';
const CLI = '/usr/bin/nkit';
const SYSTEM_CONFIG = '/etc/nkit/config.json';
/** What the package puts on the system that is nkit's alone (all must be gone after purge). */
const OWN_PATHS = [
  '/usr/lib/nkit', '/usr/libexec/nkit', CLI, '/etc/nkit', '/usr/share/nkit', '/usr/share/doc/nkit',
  '/usr/share/containers/oci/hooks.d/nkit-create-runtime.json', '/usr/share/containers/oci/hooks.d/nkit-poststop.json',
  '/usr/share/man/man8/nkit.8.gz', '/usr/share/man/man8/nkit-oci-hook.8.gz', '/usr/share/man/man8/nkit-nspawn.8.gz',
  '/usr/share/man/man5/nkit.json.5.gz',
];
const MAN_PAGES = OWN_PATHS.filter((p) => p.includes('/man/'));
// Only PATH: the installed launchers must find node and their files on their own.
const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

/** dpkg's status of nkit ("ii", "rc", ...), or undefined when dpkg knows nothing of it. */
function dpkgStatus(): string | undefined {
  const r = spawnSync('dpkg-query', ['-W', '-f=${db:Status-Abbrev}', 'nkit'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
}

/** Never purge an nkit the machine's owner installed: skip when any trace of one is here. */
function installedSkipReason(): string | false {
  if (dpkgStatus() !== undefined) return `the nkit package is on this machine (dpkg status ${dpkgStatus()}); this test would purge it`;
  const found = OWN_PATHS.find((p) => existsSync(p));
  return found ? `${found} exists; this test would remove it` : false;
}

/** dpkg, retried while another dpkg or apt holds the lock (other test files may install packages). */
async function dpkg(args: readonly string[]): Promise<RunResult> {
  for (let i = 0; ; i++) {
    const r = await run(['dpkg', ...args], { timeoutMs: 180_000, env: { ...ENV, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.code === 0 || i >= 60 || !/lock/i.test(r.stderr)) return r;
    await sleep(1_000);
  }
}

/** Purge nkit if dpkg knows it; restore directories the package's removal took that existed before. */
function registerPurge(scope: Scope, existedBefore: () => readonly string[]): void {
  defer(scope, 'dpkg --purge nkit', async () => {
    if (dpkgStatus() !== undefined) {
      const r = await dpkg(['--purge', 'nkit']);
      if (r.code !== 0) throw new Error(`dpkg --purge nkit exited ${r.code}: ${r.stderr.trim()}`);
    }
    for (const d of existedBefore()) if (!existsSync(d)) mkdirSync(d, { recursive: true, mode: 0o755 });
  });
}

/** The .deb to test: $NKIT_DEB, else one built now into a temp dir. */
async function packageFile(t: Test): Promise<string> {
  if (process.env.NKIT_DEB) return process.env.NKIT_DEB;
  const out = await tempDir(t, 'nkt-deb-');
  const started = Date.now();
  const r = await runOk([join(repoRoot, 'packaging', 'deb', 'build-deb'), '--out', out], { timeoutMs: 300_000 });
  const deb = /build-deb: (\S+\.deb)/.exec(r.stdout)?.[1];
  if (!deb) throw new Error(`build-deb printed no package: ${r.stdout}${r.stderr}`);
  t.comment(`built ${deb} in ${Date.now() - started} ms`);
  return deb;
}

// The container reports eth0, signals readiness through a file in its rootfs
// (a host directory) and waits until the test has looked.
const SCRIPT = [
  'ip -o addr show dev eth0',
  'touch /ready',
  'i=0; while [ ! -f /go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done',
].join('\n');

const skip = firstReason(toolsSkipReason(['dpkg', 'dpkg-deb', 'dpkg-query']), runtimeSkipReason('runc'), installedSkipReason());

t.test('deb: dpkg -i, a runc container through the installed hook, dpkg --purge leaves nothing', { skip }, async (t) => {
  const deb = await packageFile(t);
  const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version as string;
  t.equal((await runOk(['dpkg-deb', '-f', deb, 'Version'])).stdout.trim(), version, 'package version is package.json\'s');
  t.match((await runOk(['dpkg-deb', '-f', deb, 'Depends'])).stdout, /^nodejs \(>= 20\), libbpf1/, 'Depends: nodejs (>= 20), libbpf1');

  // Every path in the package, and which of them (shared dirs) were here before.
  const contents = (await runOk(['dpkg-deb', '-c', deb])).stdout.split('\n').filter(Boolean)
    .map((l) => l.replace(/^.* \.\//, '/').replace(/ -> .*$/, '').replace(/(.)\/$/, '$1'));
  const before = contents.filter((p) => existsSync(p));
  registerPurge(t, () => before);

  const inst = await dpkg(['-i', deb]);
  t.equal(inst.code, 0, `dpkg -i (stderr: ${inst.stderr.trim()})`);
  t.equal(dpkgStatus(), 'ii', 'dpkg status: installed');
  for (const p of OWN_PATHS) t.ok(existsSync(p), `installed: ${p}`);
  t.match((await runOk(['dpkg-query', '-W', '-f=${Conffiles}', 'nkit'])).stdout, /\/etc\/nkit\/config\.json [0-9a-f]{32}/, 'config.json is a conffile');
  t.equal(statSync('/etc/nkit/policies').mode & 0o777, 0o755, '/etc/nkit/policies: root-only writable');
  t.equal((await runOk([CLI, 'version'], { env: ENV })).stdout.trim(), `nkit ${version}`, '/usr/bin/nkit runs from /usr/lib/nkit');
  for (const f of ['nkit-create-runtime.json', 'nkit-poststop.json']) {
    const hook = JSON.parse(await readFile(`/usr/share/containers/oci/hooks.d/${f}`, 'utf8')).hook as { path: string };
    t.equal(hook.path, HOOK, `hooks.d ${f} runs the installed hook`);
  }
  t.doesNotThrow(() => accessSync(HOOK, constants.X_OK), 'hook is executable');
  t.doesNotThrow(() => accessSync('/usr/libexec/nkit/nkit-nspawn', constants.X_OK), 'nkit-nspawn is executable');

  // Man pages: found by man, rendered without groff warnings, nkit(8) covers every command.
  if (findExecutable('man') === undefined) t.comment('man-db missing: man pages not rendered');
  else {
    t.equal((await runOk(['man', '-w', 'nkit'], { env: ENV })).stdout.trim(), '/usr/share/man/man8/nkit.8.gz', 'man -w nkit');
    for (const page of MAN_PAGES) {
      const r = await run(['man', '--warnings', '-l', page], { env: { ...ENV, MANWIDTH: '80' } });
      t.equal(r.code, 0, `man -l ${page}`);
      t.equal(r.stderr, '', `${page}: no warnings`);
    }
    const help = (await runOk([CLI, '--help'], { env: ENV })).stdout;
    const commands = [...help.split(/^Commands:$/m)[1]!.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    const page = (await runOk(['man', '-l', '/usr/share/man/man8/nkit.8.gz'], { env: { ...ENV, MANWIDTH: '200' } })).stdout;
    for (const c of commands) t.match(page, new RegExp(`^ {7}${c}\\b`, 'm'), `nkit(8) documents "nkit ${c}"`);
  }

  // A runc container through the installed hook only, with a private runDir and bpffsDir.
  const host = await createNetns(t, { prefix: 'nkt-deb' });
  const dir = await tempDir(t, 'nkt-deb-env-');
  const runDir = join(dir, 'run');
  const bpffsDir = `/sys/fs/bpf/nkit-deb-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  defer(t, `remove ${bpffsDir}`, () => rm(bpffsDir, { recursive: true, force: true }));
  const config = { ...JSON.parse(await readFile(SYSTEM_CONFIG, 'utf8')), runDir, bpffsDir, policiesDir: join(dir, 'policies'), policy: 'allow-all', logLevel: 'debug' };
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
  const hook = (stage: HookStage): OciHook => ({ path: HOOK, args: ['nkit-oci-hook', '--config', configPath, stage], env: [`PATH=${ENV.PATH}`], timeout: 120 });
  const id = `e2e-deb-${process.pid}`;
  const bundle = await createBundle(t, {
    runtime: 'runc',
    args: ['sh', '-c', SCRIPT],
    annotations: { 'org.nkit.network': 'default' },
    hooks: { createRuntime: [hook('createRuntime')], poststop: [hook('poststop')] },
  });
  const running = runtimeRun({ runtime: 'runc', bundle: bundle.dir, id, hostNetns: host.name, timeoutMs: 90_000 });
  const sawReady = await waitFor(() => existsSync(join(bundle.rootfs, 'ready')), { timeoutMs: 60_000, intervalMs: 100 });
  t.ok(sawReady, 'container reported ready');
  if (sawReady) {
    const rec = JSON.parse(await readFile(join(runDir, 'containers', `${id}.json`), 'utf8'));
    t.equal(rec.state, 'ready', 'record in the test runDir, ready');
    const link = await ipLink(rec.primary.name, { netns: host.name });
    t.ok(link?.flags.includes('UP'), `host side device ${rec.primary.name} is up`);
    t.ok((await listFiles(join(bpffsDir, id))).length > 0, 'links and maps pinned in the test bpffsDir');
    const status = JSON.parse((await runOk([CLI, '--config', configPath, 'status', '--json'], { env: ENV })).stdout) as { id: string }[];
    t.ok(status.some((s) => s.id === id), 'installed nkit status lists the container');
  }
  writeFileSync(join(bundle.rootfs, 'go'), '');
  const r = await running;
  t.equal(r.code, 0, `runc exit 0 (stderr: ${r.stderr.trim()})`);
  t.match(r.stdout, /inet 10\.213\.0\.2\/24/, 'eth0 has the IPv4 address');
  t.match(r.stdout, /inet6 fd6e:6b69:74::2\/64/, 'eth0 has the IPv6 address');
  const clean = await waitFor(async () => {
    const devices = (await ipLinks({ netns: host.name })).filter((l) => l.ifname.startsWith('nk'));
    const files = (await listFiles(runDir)).filter((f) => !f.endsWith('/') && !f.endsWith('.lock') && f !== 'nkit.log');
    return devices.length === 0 && files.length === 0 && (await containerPins(bpffsDir)).length === 0;
  }, { timeoutMs: 10_000 });
  t.ok(clean, 'poststop left no device, record, lease or pin');
  t.same((await listFiles(join(runDir, 'containers'))), [], 'test runDir: no records');
  t.same(await containerPins(bpffsDir), [], 'test bpffsDir: no pins');

  // Purge: nothing of nkit's is left.
  const purge = await dpkg(['--purge', 'nkit']);
  t.equal(purge.code, 0, `dpkg --purge nkit (stderr: ${purge.stderr.trim()})`);
  t.equal(dpkgStatus(), undefined, 'dpkg has no record of nkit');
  t.same(OWN_PATHS.filter((p) => existsSync(p)), [], 'no nkit file or directory left');
  t.same(contents.filter((p) => !before.includes(p) && existsSync(p)), [], 'no path of the package left that was not here before');
  t.same(before.filter((p) => !existsSync(p)), [], 'shared directories that were here before are still here');
  t.same((await listFiles('/var/lib/dpkg/info')).filter((f) => f.startsWith('nkit.')), [], 'no /var/lib/dpkg/info/nkit.*');
  if (findExecutable('man') !== undefined) t.not((await run(['man', '-w', 'nkit'], { env: ENV })).code, 0, 'man finds no nkit page');
});
