// The one stderr line a runtime shows for a failed hook, and exit codes.
import t from 'tap';
import { exitCodeOf, hookFailureLine } from '../../src/cli/report';
import { NkitError } from '../../src/errors';

const withId = <E extends Error>(err: E, id: string): E => Object.assign(err, { containerId: id });

t.test('hookFailureLine', async (t) => {
  t.equal(
    hookFailureLine('nkit-oci-hook', 'createRuntime', withId(new NkitError('EIPAM', 'container fx1: no free address in 10.213.0.0/24'), 'fx1')),
    'nkit-oci-hook: createRuntime failed for container fx1: no free address in 10.213.0.0/24',
    'the container prefix is not repeated',
  );
  t.equal(
    hookFailureLine('nkit-oci-hook', 'poststop', withId(new NkitError('ECONFIG', 'config /etc/x: bad', { hint: 'pass --config FILE' }), 'fx2')),
    'nkit-oci-hook: poststop failed for container fx2: config /etc/x: bad (pass --config FILE)',
    'hint in parentheses; a message without the prefix is kept whole',
  );
  t.equal(
    hookFailureLine('nkit-oci-hook', 'prestart', withId(new NkitError('EINPUT', 'container fx10: x'), 'fx1')),
    'nkit-oci-hook: prestart failed for container fx1: container fx10: x',
    'only the exact "container <id>: " prefix is stripped',
  );
  t.equal(hookFailureLine('nkit', 'setup', new NkitError('EUSAGE', 'unknown stage "x"')), 'nkit: setup failed: unknown stage "x"', 'no id known');
  t.equal(
    hookFailureLine('nkit-oci-hook', 'createRuntime', withId(new TypeError('boom'), 'fx1')),
    'nkit-oci-hook: createRuntime failed for container fx1: boom [unexpected error: please report it with the log]',
    'non-NkitError is flagged as a bug',
  );
  t.equal(hookFailureLine('p', 's', 'a string'), 'p: s failed: a string [unexpected error: please report it with the log]');
  t.equal(hookFailureLine('p', 's', undefined), 'p: s failed: undefined [unexpected error: please report it with the log]');
  t.equal(hookFailureLine('p', 's', null), 'p: s failed: null [unexpected error: please report it with the log]');
});

t.test('exitCodeOf', async (t) => {
  t.equal(exitCodeOf(new NkitError('EUSAGE', 'x')), 2);
  for (const code of ['EINPUT', 'ECONFIG', 'EKERNEL', 'EINTERNAL', 'ENOTSUPP'] as const) t.equal(exitCodeOf(new NkitError(code, 'x')), 1, code);
  t.equal(exitCodeOf(Object.assign(new Error('x'), { code: 'EUSAGE' })), 1, 'only an NkitError can ask for 2');
  t.equal(exitCodeOf(undefined), 1);
});
