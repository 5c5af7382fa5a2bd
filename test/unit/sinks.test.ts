// Every place an untrusted value (container id, network or policy name,
// annotation, bundle path) becomes a file path, a device name, a netlink
// attribute or a log field: one test per sink, each showing that nothing
// unvalidated gets through. Pure, or on files in a temp dir (no root).
import { idOfPinDirName, pinDirName } from '../../src/plan/naming';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { checkTrustedFile, parseConfig } from '../../src/config/config';
import { ensureDir } from '../../src/dirs';
import { NkitError } from '../../src/errors';
import { formatAddress, parsePrefix } from '../../src/ipam/cidr';
import { allocate, release } from '../../src/ipam/ipam';
import { hookFailureLine } from '../../src/cli/report';
import { openContainerNetns } from '../../src/lifecycle/netns';
import { recordPath } from '../../src/lifecycle/record';
import { containerLockPath, OWNER_ALIAS_PREFIX } from '../../src/lifecycle/teardown';
import { createLogger } from '../../src/log';
import { machineNetnsPath } from '../../src/nspawn/machine';
import { IFNAMSIZ, primaryName, validateContainerId } from '../../src/plan/naming';
import { macFor, planContainer } from '../../src/plan/plan';
import { appliedPolicyPath } from '../../src/policy/applied';
import { loadPolicy } from '../../src/policy/rules';
import { readBundle } from '../../src/spec/oci';
import { ID_RE, NASTY } from '../fuzz/gen';

const RUN = '/run/nkit-test';
const BAD_IDS: unknown[] = [...NASTY.filter((s) => !ID_RE.test(s)), undefined, null, 42, ['a'], { id: 'a' }];
const validIds = fc.stringMatching(ID_RE);
const anyText = fc.oneof(fc.constantFrom(...NASTY), fc.string(), fc.string({ unit: 'binary' }));
const cfg = parseConfig(JSON.stringify({ runDir: RUN, networks: { default: { subnets: ['10.213.0.0/24'] }, other: { subnets: ['10.214.0.0/24'] } } }), 'test');

function tmp(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'nkt-sinks-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const refusesBadIds = (t: Test, f: (id: string) => unknown): void => {
  for (const id of BAD_IDS) t.throws(() => f(id as string), { name: 'NkitError', code: 'EINPUT', message: /invalid container id/ }, `refuses ${JSON.stringify(id)?.slice(0, 30)}`);
};

// A path built from a valid id: a direct child of `dir`, named after the id.
const staysIn = (dir: string, file: string, name: string): boolean => dirname(file) === dir && basename(file) === name;

t.test('record file <runDir>/containers/<id>.json', async (t) => {
  refusesBadIds(t, (id) => recordPath(RUN, id));
  fc.assert(fc.property(validIds, (id) => staysIn(join(RUN, 'containers'), recordPath(RUN, id), `${id}.json`)));
});

t.test('lock file <runDir>/locks/<id>.lock (taken first by teardown, nkit policy apply, nkit-nspawn down)', async (t) => {
  refusesBadIds(t, (id) => containerLockPath(RUN, id));
  fc.assert(fc.property(validIds, (id) => staysIn(join(RUN, 'locks'), containerLockPath(RUN, id), `${id}.lock`)));
});

t.test('applied policy copy <runDir>/policies/<id>.json', async (t) => {
  refusesBadIds(t, (id) => appliedPolicyPath(RUN, id));
  fc.assert(fc.property(validIds, (id) => staysIn(join(RUN, 'policies'), appliedPolicyPath(RUN, id), `${id}.json`)));
});

t.test('nspawn machine netns <runDir>/netns/<name>', async (t) => {
  refusesBadIds(t, (id) => machineNetnsPath(RUN, id));
  fc.assert(fc.property(validIds, (id) => staysIn(join(RUN, 'netns'), machineNetnsPath(RUN, id), id)));
});

t.test('pin directory <bpffsDir>/<pinDirName(id)>', async (t) => {
  refusesBadIds(t, (id) => pinDirName(id));
  fc.assert(fc.property(validIds, (id) => staysIn('/sys/fs/bpf/nkit', join('/sys/fs/bpf/nkit', pinDirName(id)), pinDirName(id))));
  // bpffs refuses every name with a dot (EPERM on lookup), which ids may have.
  t.equal(pinDirName('web.1'), 'web%2E1', 'a dot is written %2E');
  // Names bpffs accepts, and back to the id.
  fc.assert(fc.property(validIds, (id) => !pinDirName(id).includes('.') && idOfPinDirName(pinDirName(id)) === id));
  t.equal(idOfPinDirName('_capture_ring'), undefined, 'not an id: not a container\'s pins');
  t.equal(idOfPinDirName('a.b'), undefined, 'a raw dot is not ours');
});

t.test('device name (IFLA_IFNAME) and the sysfs/sysctl paths built from it', async (t) => {
  fc.assert(
    fc.property(anyText, (id) => {
      const n = primaryName(id);
      return /^nk[0-9a-f]{12}$/.test(n) && n.length < IFNAMSIZ;
    }),
  );
  t.equal(primaryName('a'), primaryName('a'), 'a pure function of the id');
  t.not(primaryName('a'), primaryName('b'));
  t.equal(planContainer('web-1', cfg, {}).peer, 'eth0', 'the peer name is a constant');
});

t.test('owner alias (IFLA_IFALIAS "nkit:<id>")', async (t) => {
  // setup sets it from plan.id, which planContainer validated (see above).
  fc.assert(
    fc.property(validIds, (id) => {
      const alias = `${OWNER_ALIAS_PREFIX}${planContainer(id, cfg, {}).id}`;
      // IFALIASZ is 256 with the NUL; printable ASCII only.
      return alias.length < 256 && /^nkit:[A-Za-z0-9_.+-]+$/.test(alias);
    }),
  );
  t.pass('aliases are short printable strings');
});

t.test('MAC addresses (IFLA_ADDRESS) derived from the id', async () => {
  fc.assert(
    fc.property(anyText, (id) => {
      const m = macFor(id, 'primary');
      return m.length === 6 && (m[0]! & 1) === 0 && (m[0]! & 2) === 2;
    }),
  );
});

t.test('network name -> lease directory <runDir>/ipam/<network>', async (t) => {
  for (const net of ['../x', '..', 'a/b', '', 'Default', 'x'.repeat(33), '\n', 'constructor', 'toString', '__proto__', 'hasownproperty']) {
    t.throws(() => planContainer('c1', cfg, { 'org.nkit.network': net }), { name: 'NkitError', code: 'EINPUT' }, `annotation network ${JSON.stringify(net)}`);
  }
  t.equal(planContainer('c1', cfg, { 'org.nkit.network': 'other' }).network, 'other');
  fc.assert(
    fc.property(anyText, (net) => {
      try {
        return ['default', 'other'].includes(planContainer('c1', cfg, { 'org.nkit.network': net }).network);
      } catch (err) {
        return err instanceof NkitError && err.code === 'EINPUT';
      }
    }),
  );
  // Config network names are schema-checked too.
  for (const name of ['../x', 'a/b', 'X', '']) {
    t.throws(() => parseConfig(JSON.stringify({ networks: { [name]: { subnets: ['10.0.0.0/24'] } } }), 'c'), { code: 'ECONFIG' }, `config network ${JSON.stringify(name)}`);
  }
});

t.test('lease files: names are canonical addresses, content is the validated id', async (t) => {
  const runDir = tmp(t);
  const leases = allocate({ runDir, network: 'default' }, 'web-1', [parsePrefix('10.213.0.0/30'), parsePrefix('fd00::/126')]);
  const dir = join(runDir, 'ipam', 'default');
  t.same(readdirSync(dir).filter((n) => !n.startsWith('.')).sort(), leases.map((l) => l.address).sort());
  for (const l of leases) t.equal(readFileSync(join(dir, l.address), 'utf8'), 'web-1\n');
  // Teardown releases what the record names: an address from a record must
  // be an address, never a path.
  writeFileSync(join(runDir, 'victim'), 'web-1\n');
  t.throws(() => release({ runDir, network: 'default' }, 'web-1', ['../../victim']), { code: 'EINPUT' });
  t.ok(existsSync(join(runDir, 'victim')), 'nothing outside the lease dir was removed');
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => /^[0-9a-f:]+$/.test(formatAddress(6, v))));
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), (v) => /^\d{1,3}(\.\d{1,3}){3}$/.test(formatAddress(4, v))));
});

t.test('policy name -> policy file <policiesDir>/<name>.json', async (t) => {
  const dir = tmp(t);
  const policies = join(dir, 'policies');
  mkdirSync(policies);
  // A valid policy file outside the policies dir that traversal would reach.
  writeFileSync(join(dir, 'escape.json'), '{"egress":[{"cidr":"0.0.0.0/0","proto":"any"}]}', { mode: 0o600 });
  for (const name of ['../escape', '..', 'a/b', '/etc/passwd', '', 'Deny-All', 'x'.repeat(33), 'a\nb', 'escape.json']) {
    t.throws(() => loadPolicy(name, policies, 'annotation org.nkit.policy'), { name: 'NkitError', code: 'EINPUT', message: /invalid policy name/ }, JSON.stringify(name));
  }
  for (const ann of ['../escape', 'allow-all\n']) {
    t.throws(() => planContainer('c1', cfg, { 'org.nkit.policy': ann }), { code: 'EINPUT' }, `annotation policy ${JSON.stringify(ann)}`);
  }
  t.throws(() => loadPolicy('constructor', policies, 'a'), { code: 'EINPUT', message: /unknown policy "constructor"/ }, 'a name that is an Object.prototype key is just a missing file');
});

t.test('bundle network namespace path: only a namespace file is opened', async (t) => {
  const dir = tmp(t);
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  writeFileSync(join(dir, 'file'), 'x');
  const open = (path: string) => openContainerNetns('c1', undefined, { netns: { present: true, path }, annotations: {} });
  for (const p of [join(dir, 'fifo'), join(dir, 'file'), dir, '/dev/null', '/dev/zero']) {
    const t0 = Date.now();
    t.throws(() => open(p), { name: 'NkitError', code: 'EINPUT', message: /is not a namespace file/ }, p);
    t.ok(Date.now() - t0 < 1000, `${p}: no blocking open`);
  }
  t.throws(() => open(join(dir, 'missing')), { code: 'EINPUT', message: /cannot open network namespace/ });
  t.throws(() => open('/proc/self/ns/net'), { code: 'EINPUT', message: /runtime's own network namespace/ });
  t.throws(() => readBundle(dir, 'c1'), { code: 'EINPUT', message: /cannot read bundle config/ }, 'no config.json');
  for (const bad of [{ path: 'relative/ns' }, { path: 7 }, { path: ['x'] }]) {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ linux: { namespaces: [{ type: 'network', ...bad }] } }));
    t.throws(() => readBundle(dir, 'c1'), { code: 'EINPUT', message: /must be an absolute path/ }, JSON.stringify(bad));
  }
});

t.test('bundle config.json: a FIFO or a directory is refused without blocking', async (t) => {
  const dir = tmp(t);
  execFileSync('mkfifo', [join(dir, 'config.json')]);
  const t0 = Date.now();
  t.throws(() => readBundle(dir, 'c1'), { code: 'EINPUT', message: /not a regular file/ });
  t.ok(Date.now() - t0 < 1000, 'no blocking read');
  rmSync(join(dir, 'config.json'));
  mkdirSync(join(dir, 'config.json'));
  t.throws(() => readBundle(dir, 'c1'), { code: 'EINPUT', message: /not a regular file/ });
});

t.test('config and policy files: a FIFO is refused before it is opened', async (t) => {
  const dir = tmp(t);
  execFileSync('mkfifo', [join(dir, 'config.json')]);
  t.throws(() => checkTrustedFile(join(dir, 'config.json')), { code: 'ECONFIG', message: /is not a regular file/ });
  mkdirSync(join(dir, 'policies'));
  execFileSync('mkfifo', [join(dir, 'policies', 'web.json')]);
  t.throws(() => loadPolicy('web', join(dir, 'policies'), 'x'), { message: /is not a regular file/ });
});

t.test('log fields: every record is one JSON line whatever the values', async (t) => {
  const file = join(tmp(t), 'nkit.log');
  const log = createLogger({ file, level: 'debug' });
  for (const v of NASTY) log.error({ id: v, network: v, err: new NkitError('EINPUT', `container ${v}: x`) }, `${v} failed`);
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  t.equal(lines.length, NASTY.length, 'one line per record');
  // As UTF-8 can carry it (a lone surrogate becomes U+FFFD).
  for (const [i, l] of lines.entries()) t.equal((JSON.parse(l) as { id: string }).id, Buffer.from(NASTY[i]!).toString(), `record ${i} round-trips`);
});

t.test('the hook\'s stderr line: one line whatever the input', async (t) => {
  const lines = NASTY.map((v) => hookFailureLine('nkit-oci-hook', 'createRuntime', new NkitError('EINPUT', `cannot read bundle config ${v}/config.json`)));
  t.same(lines.filter((l) => /[\x00-\x1f\x7f]/.test(l)), [], 'no line breaks, no control characters');
});

t.test('every sink refuses the ids the fuzzer generates, or takes them whole', async () => {
  fc.assert(
    fc.property(anyText, (id) => {
      let ok: boolean;
      try {
        ok = validateContainerId(id) === id;
      } catch (err) {
        return err instanceof NkitError && !ID_RE.test(id);
      }
      return ok && ID_RE.test(id) && staysIn(join(RUN, 'containers'), recordPath(RUN, id), `${id}.json`);
    }),
    { numRuns: 2000 },
  );
});

t.test('ensureDir: a file where a directory must be is a clean ECONFIG naming both', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nkt-dirs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'file'), '');
  t.throws(() => ensureDir(join(dir, 'file', 'locks'), 'lock'), {
    name: 'NkitError',
    code: 'ECONFIG',
    message: `cannot create the lock directory ${join(dir, 'file', 'locks')}: ENOTDIR`,
    hint: /a file stands where a directory must be/,
  });
  ensureDir(join(dir, 'a', 'b'), 'lock');
  t.equal(statSync(join(dir, 'a', 'b')).mode & 0o777, 0o700, 'created, mode 0700');
});
