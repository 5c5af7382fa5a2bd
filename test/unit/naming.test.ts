// Container ids are untrusted: what passes validation, and the device names
// derived from them.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { IFNAMSIZ, MAX_ID_LENGTH, primaryName, validateContainerId, validateName } from '../../src/plan/naming';
import { fixturePath } from '../lib/paths';

const stateId = (file: string): string => (JSON.parse(readFileSync(fixturePath(file), 'utf8')) as { id: string }).id;

t.test('accepts the ids runc, crun and podman use', async (t) => {
  const ids = [
    stateId('runc-1.1.5-createRuntime-state.json'),
    stateId('crun-1.8.1-createRuntime-state.json'),
    stateId('podman-4.3.1-runc-createRuntime-state.json'),
  ];
  t.same(ids.slice(0, 2), ['fx1', 'fx2']);
  t.match(ids[2], /^[0-9a-f]{64}$/, 'podman: 64 hex digits');
  for (const id of [...ids, 'a', 'A.b_c+d-e', 'x'.repeat(MAX_ID_LENGTH), 'ctr..1']) t.equal(validateContainerId(id), id, id);
});

t.test('rejects unsafe or malformed ids', async (t) => {
  const bad: unknown[] = [
    '', '.', '..', 'a/b', '../x', '/abs', 'a b', 'x\n', '\nx', 'x\0', '.hidden', '-flag', '_x', 'a:b', 'é',
    'x'.repeat(MAX_ID_LENGTH + 1), 'x'.repeat(1000), undefined, null, 42, ['fx1'], { id: 'fx1' },
  ];
  for (const id of bad) {
    t.throws(() => validateContainerId(id), { name: 'NkitError', code: 'EINPUT', message: /^invalid container id / }, JSON.stringify(id)?.slice(0, 40));
  }
  const long = (() => { try { validateContainerId('y'.repeat(1000)); } catch (e) { return (e as Error).message; } return ''; })();
  t.ok(long.length < 100, `a 1000-char id is shortened in the message (${long.length} chars)`);
  t.throws(() => validateContainerId('a\nb'), { message: 'invalid container id "a\\nb"' }, 'control characters are escaped');
});

t.test('validateName names the source', async (t) => {
  t.equal(validateName('network', 'default', 'x'), 'default');
  t.throws(() => validateName('policy', 'Deny', 'annotation org.nkit.policy'),
    { code: 'EINPUT', message: 'invalid policy name "Deny" in annotation org.nkit.policy' });
  t.throws(() => validateName('network', 'a'.repeat(33), 'config'), { code: 'EINPUT' });
});

t.test('primaryName: deterministic, short, distinct', async (t) => {
  const ids = ['fx1', 'fx2', stateId('podman-4.3.1-runc-createRuntime-state.json'), 'x'.repeat(MAX_ID_LENGTH)];
  const names = ids.map(primaryName);
  for (const [i, n] of names.entries()) {
    t.match(n, /^nk[0-9a-f]{12}$/, ids[i]!);
    t.ok(n.length <= IFNAMSIZ - 1, `${n} fits IFNAMSIZ-1`);
    t.equal(primaryName(ids[i]!), n, 'same id, same name');
  }
  t.equal(new Set(names).size, names.length, 'different ids, different names');
  // sha256("fx1") = 46989e2bb7f2...: pins the derivation, so a change in it
  // (which would orphan existing devices on upgrade) is noticed.
  t.equal(primaryName('fx1'), 'nk46989e2bb7f2');
});
