// Hook stdin (OCI state) and the bundle's config.json: real runtime output
// parses, bad input is rejected with a message that says what is wrong.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseState, readBundle } from '../../src/spec/oci';
import { fixturePath, fixturesDir } from '../lib/paths';

const stateFiles = readdirSync(fixturesDir).filter((f) => f.endsWith('-state.json'));

t.test('every captured state parses', async (t) => {
  t.equal(stateFiles.length, 11, 'runc and crun at 5 stages each, podman');
  for (const f of stateFiles) {
    const text = readFileSync(fixturePath(f), 'utf8');
    const raw = JSON.parse(text) as Record<string, unknown>;
    const s = parseState(text);
    t.equal(s.id, raw.id, `${f}: id`);
    t.equal(s.status, raw.status, `${f}: status`);
    t.equal(s.bundle, raw.bundle, `${f}: bundle`);
    t.equal(s.pid, raw.pid, `${f}: pid (absent in runc poststop)`);
  }
  const podman = parseState(readFileSync(fixturePath('podman-4.3.1-runc-createRuntime-state.json'), 'utf8'));
  t.equal(podman.annotations?.['org.nkit.network'], 'default');
  t.equal(parseState(readFileSync(fixturePath('runc-1.1.5-poststop-state.json'), 'utf8')).pid, undefined);
});

const base = { ociVersion: '1.0.2', id: 'fx1', status: 'creating', pid: 42, bundle: '/b' };
const without = (k: keyof typeof base): string => JSON.stringify(Object.fromEntries(Object.entries(base).filter(([x]) => x !== k)));
const bad: Array<[string, string, RegExp]> = [
  ['empty', '', /^OCI state on stdin: empty input/],
  ['malformed', '{"id": fx1}', /^OCI state on stdin: malformed JSON/],
  ['truncated', JSON.stringify(base).slice(0, 30), /malformed JSON/],
  ['not an object', '"fx1"', /"\(top level\)" must be object/],
  ['missing id', without('id'), /missing key "id"/],
  ['missing bundle', without('bundle'), /missing key "bundle"/],
  ['missing status', without('status'), /missing key "status"/],
  ['missing ociVersion', without('ociVersion'), /missing key "ociVersion"/],
  ['bad status', JSON.stringify({ ...base, status: 'paused' }), /"status" must be one of "creating", "created", "running", "stopped"/],
  ['negative pid', JSON.stringify({ ...base, pid: -1 }), /"pid" must be >= 0/],
  ['string pid', JSON.stringify({ ...base, pid: '42' }), /"pid" must be integer/],
  ['fractional pid', JSON.stringify({ ...base, pid: 4.2 }), /"pid" must be integer/],
  ['empty bundle', JSON.stringify({ ...base, bundle: '' }), /"bundle" must NOT have fewer than 1 characters/],
  ['non-string annotation', JSON.stringify({ ...base, annotations: { a: 1 } }), /"annotations\.a" must be string/],
  ['id with /', JSON.stringify({ ...base, id: 'a/b' }), /invalid container id "a\/b"/],
  ['id ..', JSON.stringify({ ...base, id: '..' }), /invalid container id "\.\."/],
  ['empty id', JSON.stringify({ ...base, id: '' }), /"id" must NOT have fewer than 1 characters/],
];
for (const [name, text, message] of bad) {
  t.test(`parseState rejects: ${name}`, async (t) => {
    t.throws(() => parseState(text), { name: 'NkitError', code: 'EINPUT', message });
  });
}

t.test('readBundle', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nkit-unit-bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const write = (cfg: unknown): void => writeFileSync(join(dir, 'config.json'), typeof cfg === 'string' ? cfg : JSON.stringify(cfg));
  const ns = (...n: unknown[]) => ({ linux: { namespaces: n } });

  write(ns({ type: 'pid' }, { type: 'mount' }));
  t.same(readBundle(dir, 'fx1'), { netns: { present: false }, annotations: {} }, 'no network entry: shares the runtime netns');
  write({});
  t.same(readBundle(dir, 'fx1').netns, { present: false }, 'no linux section');
  write(ns({ type: 'network' }));
  t.same(readBundle(dir, 'fx1').netns, { present: true }, 'new netns');
  write(ns({ type: 'network', path: '/run/netns/ctr' }));
  t.same(readBundle(dir, 'fx1').netns, { present: true, path: '/run/netns/ctr' }, 'joins an existing netns');
  for (const p of ['run/netns/ctr', '../x', '', 7]) {
    write(ns({ type: 'network', path: p }));
    t.throws(() => readBundle(dir, 'fx1'), { code: 'EINPUT', message: /^container fx1: network namespace path in .*config\.json must be an absolute path$/ }, JSON.stringify(p));
  }
  write({ ...ns({ type: 'network' }), annotations: { 'org.nkit.policy': 'allow-all', n: 1, o: null } });
  t.same(readBundle(dir, 'fx1').annotations, { 'org.nkit.policy': 'allow-all' }, 'only string annotations kept');
  write('{"linux":');
  t.throws(() => readBundle(dir, 'fx1'), { code: 'EINPUT', message: /^container fx1: bundle config .*config\.json: malformed JSON/ });
  rmSync(join(dir, 'config.json'));
  t.throws(() => readBundle(dir, 'fx1'), { code: 'EINPUT', message: /^container fx1: cannot read bundle config / });
  for (const rt of ['runc-1.1.5', 'crun-1.8.1']) {
    copyFileSync(fixturePath(`${rt}-spec-config.json`), join(dir, 'config.json'));
    t.same(readBundle(dir, 'fx1').netns, { present: true }, `${rt} spec: a new netns`);
  }
});
