// fast-check generators for the hook's untrusted and operator inputs: stdin
// text, OCI states mutated from the real fixtures, bundles, configs, policy
// files and annotations. Pure: they produce plain data with placeholders
// ("@BUNDLE", "@NETNS0", ...) that the runner (or a pure test) resolves to
// real paths, so the same cases can run with or without a kernel.
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { fixturesDir, fixturePath } from '../lib/paths';

/** Container namespaces the runner provides (placeholders @NETNS<i>, @SLEEPER<i>). */
export const CONTAINERS = 3;

/** Strings that have broken path, device and shell handling somewhere. */
export const NASTY: readonly string[] = [
  '', '.', '..', '../x', '../../../../etc/passwd', 'a/b', '/abs', 'x/', './x', 'a\\b', '//',
  'x'.repeat(1000), 'x'.repeat(129), 'x'.repeat(64), 'a\0b', '\0', 'a\nb', 'x\n', '\n', '\r\n', '\t', ' ',
  'é', 'ü𝄞', '\u202e', '\ufeffx', '😀', '\ud800', 'Ａ',
  '$(reboot)', '`id`', 'a;rm -rf /', 'a|b', 'a&b', '>x', '*', '?', '[a]', '{a,b}', '~', '~root', '-rf', '--help', '-',
  'a b', ' a', 'a ', '%s%n', '%00', '..%2f', 'nkit:', 'eth0', 'lo', 'nk0123456789ab',
  'constructor', '__proto__', 'toString', 'hasOwnProperty', 'prototype', 'valueOf', '__defineGetter__',
  'CON', 'NUL', 'default', 'deny-all', 'allow-all', '0', '-1', '1e400', 'null', 'true', '{}', '[]',
];

/** Ids that pass validation but look odd (they may reach the kernel). */
export const ODD_VALID_IDS: readonly string[] = ['a', '0', 'A.b_c+d-e', 'x'.repeat(128), 'a..b', 'a.json', 'nkit', 'default', 'constructor', 'z-', 'Z+'];

export const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;
export const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

const nastyString = fc.constantFrom(...NASTY);

/** arb about one time in `n`, else undefined (fc.option's freq is the other way round). */
const rarely = <T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: n - 1 }, { arbitrary: arb, weight: 1 });
const anyString = fc.oneof(
  { arbitrary: nastyString, weight: 4 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 1 },
);

/** Values of the wrong type (or the right type with a wrong value). */
export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  anyString,
  fc.constantFrom(null, true, false, 0, -1, 1.5, -0, 2 ** 31, 2 ** 53, 1e308, -1e308, [], {}, [1], { a: 1 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 2 }),
);

export const validId = fc.oneof(
  { arbitrary: fc.stringMatching(ID_RE), weight: 3 },
  { arbitrary: fc.constantFrom(...ODD_VALID_IDS), weight: 1 },
);
export const anyId: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: validId, weight: 2 },
  { arbitrary: nastyString, weight: 4 },
  { arbitrary: anyString, weight: 2 },
  { arbitrary: weirdValue, weight: 1 },
);

export const validName = fc.stringMatching(NAME_RE);

// ---------------------------------------------------------------- bundles

/**
 * Where the bundle's network namespace entry points. "@..." placeholders:
 * @NETNS<i> a container netns, @OWNNS the runner's own (refused), @MNTNS a
 * namespace of another type, @REGFILE a plain file, @DIR a directory,
 * @DEVNULL /dev/null, @NOWHERE a missing path.
 */
export const netnsPath: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.nat(CONTAINERS - 1).map((i) => `@NETNS${i}`), weight: 10 },
  { arbitrary: fc.constantFrom('@OWNNS', '@MNTNS', '@REGFILE', '@DIR', '@DEVNULL', '@NOWHERE', 'relative/ns', 'net', ''), weight: 3 },
  { arbitrary: weirdValue, weight: 1 },
);

export interface BundleSpec {
  /** The config.json value (placeholders inside), or raw text when `text` is set. */
  value: unknown;
  text?: string;
  /** No config.json at all. */
  missing?: boolean;
}

const cpusValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom('0', '0-1', '1', '', '0-8191:1/1', '8192', '01', '1-0', '0-3:2/4', '0,0,0', ' 0 ', 'x', '-1', '0-'),
  weirdValue,
);

function bundleValue(nsEntry: unknown, annotations: unknown, cpus: unknown, shape: string): unknown {
  const namespaces = nsEntry === undefined ? [{ type: 'pid' }] : [{ type: 'pid' }, nsEntry];
  const linux: Record<string, unknown> = { namespaces };
  if (cpus !== undefined) linux.resources = { cpu: { cpus } };
  const v: Record<string, unknown> = { ociVersion: '1.0.2', linux };
  if (annotations !== undefined) v.annotations = annotations;
  switch (shape) {
    case 'namespaces-object': linux.namespaces = { network: nsEntry }; break;
    case 'linux-null': v.linux = null; break;
    case 'linux-array': v.linux = [linux]; break;
    case 'root-array': return [v];
    case 'root-null': return null;
    case 'entry-null': linux.namespaces = [null, nsEntry, 7, 'network']; break;
    case 'two-network': linux.namespaces = [nsEntry, { type: 'network', path: '@NOWHERE' }]; break;
    default: break;
  }
  return v;
}

/** Annotation maps: nkit's keys with good, nasty and wrongly typed values. */
export function annotationsArb(o: { networks: readonly string[]; policies: readonly string[]; stringsOnly: boolean }): fc.Arbitrary<Record<string, unknown>> {
  const good = (names: readonly string[]): fc.Arbitrary<string> => (names.length ? fc.constantFrom(...names) : validName);
  const value = (names: readonly string[]): fc.Arbitrary<unknown> =>
    fc.oneof(
      { arbitrary: good(names), weight: 4 },
      { arbitrary: validName, weight: 1 },
      { arbitrary: nastyString, weight: 3 },
      { arbitrary: o.stringsOnly ? anyString : weirdValue, weight: 1 },
    );
  return fc
    .record(
      {
        net: fc.option(value(o.networks), { nil: undefined }),
        pol: fc.option(value(o.policies), { nil: undefined }),
        other: fc.dictionary(fc.oneof(nastyString, fc.constantFrom('org.nkit.other', 'org.nkit.Network', 'io.podman.x')), o.stringsOnly ? anyString : weirdValue, { maxKeys: 3 }),
      },
    )
    .map(({ net, pol, other }) => {
      const a: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(other)) Object.defineProperty(a, k, { value: v, enumerable: true, writable: true, configurable: true });
      if (net !== undefined) a['org.nkit.network'] = net;
      if (pol !== undefined) a['org.nkit.policy'] = pol;
      return a;
    });
}

/** A bundle whose config.json is well formed or broken in one of many ways. */
export function bundleArb(o: { networks: readonly string[]; policies: readonly string[]; valid?: boolean }): fc.Arbitrary<BundleSpec> {
  const nsEntry = fc.oneof(
    { arbitrary: netnsPath.map((path) => ({ type: 'network', path })), weight: 10 },
    { arbitrary: fc.constant({ type: 'network' }), weight: 3 },
    { arbitrary: fc.constant(undefined), weight: 1 },
    { arbitrary: fc.record({ type: weirdValue, path: netnsPath }), weight: 1 },
  );
  const shape = fc.oneof(
    { arbitrary: fc.constant('normal'), weight: 20 },
    { arbitrary: fc.constantFrom('namespaces-object', 'linux-null', 'linux-array', 'root-array', 'root-null', 'entry-null', 'two-network'), weight: 2 },
  );
  const spec = fc
    .record({
      ns: nsEntry,
      annotations: fc.option(annotationsArb({ ...o, stringsOnly: false }), { nil: undefined }),
      cpus: rarely(cpusValue, 6),
      shape,
    })
    .map(({ ns, annotations, cpus, shape }): BundleSpec => ({ value: bundleValue(ns, annotations, cpus, shape) }));
  if (o.valid) {
    return fc
      .record({ i: fc.nat(CONTAINERS - 1), annotations: rarely(annotationsArb({ ...o, stringsOnly: true }), 3) })
      .map(({ i, annotations }) => ({ value: bundleValue({ type: 'network', path: `@NETNS${i}` }, annotations, undefined, 'normal') }));
  }
  return fc.oneof(
    { arbitrary: spec, weight: 12 },
    { arbitrary: fc.constant({ value: null, missing: true }), weight: 1 },
    { arbitrary: fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('', '{', '{"linux":', 'null', '[]', '"x"')).map((text) => ({ value: null, text })), weight: 1 },
  );
}

// ---------------------------------------------------------------- states

export interface StateCase {
  stage: string;
  /** The state with placeholders, or raw stdin text. */
  state?: unknown;
  text?: string;
  bundle: BundleSpec;
}

const FIXTURE_STATES: Array<Record<string, unknown>> = readdirSync(fixturesDir)
  .filter((f) => f.endsWith('-state.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(fixturePath(f), 'utf8')) as Record<string, unknown>);

export const fixtureState = fc.constantFrom(...FIXTURE_STATES);

export const SETUP_STAGES = ['createRuntime', 'prestart'];
export const ALL_STAGES = ['createRuntime', 'prestart', 'poststop', 'createContainer', 'startContainer', 'poststart'];
export const stageArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...SETUP_STAGES), weight: 6 },
  { arbitrary: fc.constant('poststop'), weight: 3 },
  { arbitrary: fc.constantFrom('createContainer', 'startContainer', 'poststart'), weight: 1 },
  { arbitrary: fc.oneof(nastyString, fc.constantFrom('CreateRuntime', 'createruntime', ' poststop', 'poststop\n', 'create')), weight: 1 },
);

const pidValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.nat(CONTAINERS - 1).map((i) => `@SLEEPER${i}`), weight: 6 },
  { arbitrary: fc.constantFrom('@SELFPID', 0, -1, 1.5, 2 ** 31, 2 ** 53, 1e20, -1e20, '123', null, [], 4194305, 99999999), weight: 3 },
  { arbitrary: weirdValue, weight: 1 },
);
const bundleRef: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constant('@BUNDLE'), weight: 10 },
  { arbitrary: fc.constantFrom('@NOWHERE', '@REGFILE', '.', '', 'relative', '/'), weight: 2 },
  { arbitrary: weirdValue, weight: 1 },
);
const statusValue = fc.oneof(fc.constantFrom('creating', 'created', 'running', 'stopped'), fc.constantFrom('paused', 'Creating', ''), weirdValue);
const STATE_KEYS = ['ociVersion', 'id', 'status', 'pid', 'bundle', 'annotations', 'root'];

type Mutation = { op: 'drop'; key: string } | { op: 'set'; key: string; value: unknown };

function mutationArb(o: { networks: readonly string[]; policies: readonly string[] }): fc.Arbitrary<Mutation> {
  const set = (key: string, value: fc.Arbitrary<unknown>): fc.Arbitrary<Mutation> => value.map((v) => ({ op: 'set' as const, key, value: v }));
  return fc.oneof(
    { arbitrary: fc.constantFrom(...STATE_KEYS).map((key) => ({ op: 'drop' as const, key })), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('set' as const), key: fc.constantFrom(...STATE_KEYS, 'extra', '__proto__', 'constructor'), value: weirdValue }), weight: 2 },
    { arbitrary: set('id', anyId), weight: 4 },
    { arbitrary: set('pid', pidValue), weight: 2 },
    { arbitrary: set('status', statusValue), weight: 1 },
    { arbitrary: set('bundle', bundleRef), weight: 1 },
    { arbitrary: set('annotations', annotationsArb({ ...o, stringsOnly: true })), weight: 2 },
    { arbitrary: set('annotations', annotationsArb({ ...o, stringsOnly: false })), weight: 1 },
  );
}

function applyMutations(base: Record<string, unknown>, ms: Mutation[]): Record<string, unknown> {
  const s: Record<string, unknown> = { ...base };
  for (const m of ms) {
    if (m.op === 'drop') delete s[m.key];
    // defineProperty: "__proto__" becomes an own key, as JSON.parse makes it.
    else Object.defineProperty(s, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
  }
  return s;
}

/** A fixture state pointed at the case's bundle and a live container, then mutated. */
export function stateCaseArb(o: { networks: readonly string[]; policies: readonly string[] }): fc.Arbitrary<StateCase> {
  return fc
    .record({
      stage: stageArb,
      base: fixtureState,
      pid: pidValue,
      mutations: fc.array(mutationArb(o), { minLength: 0, maxLength: 4 }),
      bundle: bundleArb(o),
      text: rarely(textMutationArb, 8),
    })
    .map(({ stage, base, pid, mutations, bundle, text }) => {
      const start = { ...base, bundle: '@BUNDLE', ...(typeof base.pid === 'number' || stage !== 'poststop' ? { pid } : {}) };
      const state = applyMutations(start, mutations);
      return text ? { stage, text: text(JSON.stringify(state)), bundle } : { stage, state, bundle };
    });
}

/** Text-level damage to serialised JSON. */
export const textMutationArb: fc.Arbitrary<(s: string) => string> = fc.oneof(
  fc.nat().map((n) => (s: string) => s.slice(0, n % (s.length + 1))),
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', minLength: 1, maxLength: 3 })).map(([n, ins]) => (s: string) => {
    const at = n % (s.length + 1);
    return s.slice(0, at) + ins + s.slice(at);
  }),
  fc.nat().map((n) => (s: string) => {
    const at = n % Math.max(1, s.length);
    return s.slice(0, at) + s.slice(at + 1);
  }),
  fc.constantFrom(
    (s: string) => `\ufeff${s}`,
    (s: string) => `${s}\n${s}`,
    (s: string) => `[${s}]`,
    (s: string) => `${s}x`,
    (s: string) => s.replace(/"id":/, '"id":"../../x","id":'),
    (s: string) => s.replace(/}$/, ',"id":"a/b"}'),
    (s: string) => s.replace(/"/g, "'"),
    (s: string) => s.toUpperCase(),
    (s: string) => s.replace(/:/g, ': '.repeat(3)),
  ),
);

/** Anything on stdin: random text, random JSON, damaged fixtures, huge or deep input. */
export const stdinTextArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ maxLength: 200 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }), weight: 2 },
  { arbitrary: fc.json({ maxDepth: 4 }), weight: 3 },
  { arbitrary: fc.anything({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'undefined'), weight: 2 },
  // Fixtures pointed at a live container, so undamaged parts can reach setup.
  { arbitrary: fc.tuple(fixtureState, fc.nat(CONTAINERS - 1), textMutationArb).map(([s, i, m]) => m(JSON.stringify({ ...s, bundle: '@BUNDLE', pid: `@SLEEPER${i}` }))), weight: 4 },
  {
    arbitrary: fc.constantFrom(
      '[]', '{}', 'null', '0', '""', '"x"', 'true', ' ', '\n', '\0', '{"id":', '{"id":null}', '{"id":{}}', '{"__proto__":{"id":"x"}}',
      '['.repeat(100_000), `${'['.repeat(20_000)}${']'.repeat(20_000)}`, `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
      `{"ociVersion":"1","id":"${'a'.repeat(1_000_000)}","status":"creating","bundle":"/x"}`,
      `{"ociVersion":"1","id":"ok","status":"creating","bundle":"/x","annotations":{${Array.from({ length: 5000 }, (_, i) => `"k${i}":"v"`).join(',')}}}`,
      '\ufeff{}', '{"ociVersion":"1.0","id":"fx1","status":"creating","bundle":"/x","pid":1e999}',
    ),
    weight: 1,
  },
);

// ---------------------------------------------------------------- configs

export interface FileAttrs {
  mode: number;
  uid: number;
}

/** Mostly root-owned 0600/0644; sometimes someone else's, or group/world-writable. */
export const fileAttrsArb: fc.Arbitrary<FileAttrs> = fc.oneof(
  { arbitrary: fc.constantFrom({ mode: 0o600, uid: 0 }, { mode: 0o644, uid: 0 }, { mode: 0o400, uid: 0 }), weight: 12 },
  { arbitrary: fc.record({ mode: fc.constantFrom(0o620, 0o602, 0o666, 0o660, 0o777, 0o600, 0o644), uid: fc.constantFrom(0, 65534, 1000) }), weight: 1 },
);

export interface ConfigSpec {
  value: unknown;
  text?: string;
  attrs: FileAttrs;
  /** How the config is named: --config, NKIT_CONFIG, or a missing file / a directory. */
  via: 'flag' | 'env' | 'missing' | 'dir';
}

const prefix4 = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 })).map(([v, len]) => {
  const net = len === 0 ? 0 : (v >>> (32 - len)) << (32 - len) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 0xff).join('.')}/${len}`;
});
const prefix6 = fc.tuple(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 128 })).map(([g, len]) => {
  const groups = g.map((x, i) => {
    const bits = Math.max(0, Math.min(16, len - 16 * i));
    return bits === 0 ? 0 : (x >> (16 - bits)) << (16 - bits);
  });
  return `${groups.map((x) => x.toString(16)).join(':')}/${len}`;
});
export const badCidr = fc.constantFrom(
  '10.0.0.1/8', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '10.0.0.0', '/24', '10.0.0.0/024', '10.0.0.0/8/8', '256.0.0.0/8', '1.2.3/24',
  '01.2.3.4/32', 'fd00::/129', 'fd00::1/64', '::ffff:1.2.3.4/128', 'fe80::%eth0/64', 'fd00:::/64', 'gggg::/16', ' 10.0.0.0/8', '10.0.0.0/8 ',
  'x'.repeat(64), 'x'.repeat(65), '', '0.0.0.0/0', '::/0', '10.0.0.0/1e1', '10.0.0.0/0x8', '１０.0.0.0/8',
);
export const cidrArb: fc.Arbitrary<string> = fc.oneof({ arbitrary: prefix4, weight: 4 }, { arbitrary: prefix6, weight: 3 }, { arbitrary: badCidr, weight: 2 });

const subnetsArb: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constant(['10.213.0.0/24', 'fd6e:6b69:74::/64']), weight: 6 },
  { arbitrary: fc.array(fc.oneof(prefix4, prefix6), { minLength: 1, maxLength: 2 }), weight: 4 },
  { arbitrary: fc.array(cidrArb, { minLength: 0, maxLength: 3 }), weight: 2 },
  { arbitrary: fc.constantFrom(['10.0.0.0/30'], ['10.0.0.0/31'], ['fd00::/126'], ['fd00::/127'], ['10.0.0.0/8', '10.1.0.0/16'], ['127.0.0.0/8'], ['224.0.0.0/4'], ['0.0.0.0/0'], ['::/0'], ['ff00::/8'], ['fe80::/64'], ['::1/128']), weight: 2 },
  { arbitrary: weirdValue, weight: 1 },
);

const networkArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    arbitrary: fc
      .tuple(
        fc.record(
          {
            subnets: subnetsArb,
            mtu: fc.oneof({ arbitrary: fc.constantFrom(1500, 1280, 65535, 9000), weight: 6 }, fc.constantFrom(0, 1279, 65536, -1, 1500.5, '1500'), weirdValue),
            mode: fc.oneof({ arbitrary: fc.constantFrom('l3', 'l2'), weight: 6 }, fc.constantFrom('L3', 'l4', ''), weirdValue),
          },
          { requiredKeys: ['subnets'] },
        ),
        rarely(fc.tuple(fc.oneof(nastyString, fc.constantFrom('Subnets', 'mtu ')), weirdValue), 8),
      )
      .map(([n, extra]) => (extra ? { ...n, [extra[0]]: extra[1] } : n)),
    weight: 8,
  },
  { arbitrary: weirdValue, weight: 1 },
);

/** A config built from the test's good one with some keys changed, dropped or added. */
export function configArb(o: { policies: readonly string[] }): fc.Arbitrary<ConfigSpec> {
  // runDir, bpffsDir and logFile only ever name the test's private places or
  // invalid values: a dropped runDir would default to the host's /run/nkit.
  const key = (k: string, good: fc.Arbitrary<unknown>, bad: fc.Arbitrary<unknown>): fc.Arbitrary<[string, unknown]> =>
    fc.oneof({ arbitrary: good, weight: 3 }, { arbitrary: bad, weight: 1 }).map((v) => [k, v] as [string, unknown]);
  const keyChange: fc.Arbitrary<[string, unknown]> = fc.oneof(
    key('datapath', fc.constantFrom('auto', 'veth', 'netkit'), weirdValue),
    key('runDir', fc.constantFrom('@RUNDIR', '@RUNDIR2'), fc.constantFrom('@REGFILE', 'run', '', './run', '~/run', 42, null, [], {}, true)),
    key('bpffsDir', fc.constant('@BPFFS'), fc.constantFrom('@NOTBPF', 'bpf', '', 42, null, [])),
    key('policiesDir', fc.constant('@POLICIES'), fc.oneof(fc.constantFrom('@NOWHERE', '/', 'policies', ''), weirdValue)),
    key('policy', fc.constantFrom('deny-all', 'allow-all', ...o.policies), fc.oneof(validName, weirdValue)),
    key('conntrackSize', fc.constantFrom(256, 8192, 4096, 65536), fc.oneof(fc.constantFrom(255, 1048577, 0, -1, 8192.5, '8192', 2 ** 53, 1e308), weirdValue)),
    key('logLevel', fc.constantFrom('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), weirdValue),
    key('logFile', fc.constant('@LOGFILE'), fc.constantFrom('@DIR', 'nkit.log', '', 42, null)),
    key('numa', fc.constantFrom('auto', 'off', 0, 1, 1023), fc.oneof(fc.constantFrom(1024, -1, 1.5, 'on', ''), weirdValue)),
    key('queues', fc.constantFrom('auto', 1, 2, 8, 64), fc.oneof(fc.constantFrom(0, 65, -1, 1.5, '4'), weirdValue)),
    key('maxQueues', fc.constantFrom(1, 4, 64), fc.oneof(fc.constantFrom(0, 65, 'x'), weirdValue)),
    key('uplink', fc.constantFrom('lo', 'eth0', 'x'.repeat(15), 'nosuchdev'), fc.oneof(fc.constantFrom('x'.repeat(16), '..', '.', 'a/b', 'a:b', 'a b', ''), nastyString)),
    key('sysfsRoot', fc.constantFrom('/sys', '@FAKESYSFS', '@NOWHERE', '/'), fc.oneof(fc.constantFrom('sys', ''), weirdValue)),
    key(
      'networks',
      fc.oneof(
        fc.dictionary(fc.oneof(validName, fc.constantFrom('default', 'other', 'constructor', 'tostring')), networkArb, { minKeys: 1, maxKeys: 3 }),
        fc.record({ default: networkArb }),
      ),
      fc.oneof(fc.constant({}), fc.dictionary(fc.oneof(nastyString, fc.constantFrom('__proto__', 'toString', 'Default')), networkArb, { minKeys: 1, maxKeys: 2 }), weirdValue),
    ),
    fc.tuple(fc.oneof(fc.constantFrom('$schema', 'datapth', 'Policy', 'extra'), nastyString), weirdValue),
  );
  const dropKey = fc.constantFrom('datapath', 'policiesDir', 'policy', 'conntrackSize', 'logLevel', 'networks');
  const value = fc
    .record({
      changes: fc.array(keyChange, { minLength: 1, maxLength: 2 }),
      drops: fc.array(dropKey, { maxLength: 1 }),
    })
    .map(({ changes, drops }) => {
      const c: Record<string, unknown> = { ...BASE_CONFIG };
      for (const d of drops) delete c[d];
      for (const [k, v] of changes) Object.defineProperty(c, k, { value: v, enumerable: true, writable: true, configurable: true });
      return c;
    });
  return fc
    .record({
      value: fc.oneof({ arbitrary: value, weight: 12 }, { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 }),
      text: rarely(textMutationArb, 10),
      attrs: fileAttrsArb,
      via: fc.oneof({ arbitrary: fc.constantFrom('flag' as const, 'env' as const), weight: 20 }, { arbitrary: fc.constantFrom('missing' as const, 'dir' as const), weight: 1 }),
    })
    .map(({ value, text, attrs, via }) => ({ value, attrs, via, ...(text ? { text: text(JSON.stringify(value)) } : {}) }));
}

/** The test's good config (placeholders for its private paths). */
export const BASE_CONFIG: Readonly<Record<string, unknown>> = {
  datapath: 'auto',
  runDir: '@RUNDIR',
  bpffsDir: '@BPFFS',
  policiesDir: '@POLICIES',
  networks: { default: { subnets: ['10.213.0.0/24', 'fd6e:6b69:74::/64'], mtu: 1500, mode: 'l3' }, other: { subnets: ['10.214.0.0/30'], mtu: 1400, mode: 'l2' } },
  policy: 'deny-all',
  logLevel: 'debug',
  numa: 'off',
};
export const BASE_NETWORKS = ['default', 'other'];

// ---------------------------------------------------------------- policies

export interface PolicySpec {
  value: unknown;
  text?: string;
  attrs: FileAttrs;
}

const portsArb: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom('80', '80,443', '8000-8100', '1-65535', '1', '65535', 80, 443), weight: 6 },
  { arbitrary: fc.array(fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.nat(200)), { minLength: 1, maxLength: 30 }).map((rs) => rs.map(([lo, n]) => (n % 3 ? `${lo}` : `${lo}-${Math.min(65535, lo + n)}`)).join(',')), weight: 3 },
  {
    arbitrary: fc.constantFrom(
      '0', '65536', '70000', '80-70', 'a', '', ',', '1,,2', ' 80 ', '80 - 90', '-1', '1-', '-5', '99999', '00080', '1e3', '0x50', '８０',
      0, -1, 65536, 1.5, 1e21, -0, Number.MAX_SAFE_INTEGER,
      Array.from({ length: 1000 }, (_, i) => `${i + 1}`).join(','),
    ),
    weight: 3,
  },
  { arbitrary: weirdValue, weight: 1 },
);

const ruleArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    arbitrary: fc.record(
      {
        cidr: fc.oneof({ arbitrary: cidrArb, weight: 8 }, { arbitrary: weirdValue, weight: 1 }),
        proto: fc.oneof({ arbitrary: fc.constantFrom('tcp', 'udp', 'icmp', 'any'), weight: 8 }, { arbitrary: fc.constantFrom('TCP', 'sctp', '', 'icmpv6'), weight: 1 }, { arbitrary: weirdValue, weight: 1 }),
        ports: portsArb,
        description: fc.string({ maxLength: 10 }),
        extra: weirdValue,
      },
      { requiredKeys: [] },
    ),
    weight: 12,
  },
  { arbitrary: weirdValue, weight: 1 },
);

/** Valid rules only (tcp/udp with ports, others without). */
const goodRuleArb = fc.record({ cidr: fc.oneof(prefix4, prefix6), proto: fc.constantFrom('tcp', 'udp', 'icmp', 'any'), ports: fc.option(fc.constantFrom('80', '80,443', '8000-8100', '1-65535', '53'), { nil: undefined }) }).map((r) =>
  r.proto === 'tcp' || r.proto === 'udp' ? r : { cidr: r.cidr, proto: r.proto },
);

export const policyArb: fc.Arbitrary<PolicySpec> = fc
  .record({
    value: fc.oneof(
      { arbitrary: fc.record({ ingress: fc.array(goodRuleArb, { maxLength: 8 }), egress: fc.array(goodRuleArb, { maxLength: 8 }) }, { requiredKeys: [] }), weight: 5 },
      { arbitrary: fc.record({ ingress: fc.array(ruleArb, { maxLength: 6 }), egress: fc.array(ruleArb, { maxLength: 6 }), description: weirdValue, extra: weirdValue }, { requiredKeys: [] }), weight: 6 },
      { arbitrary: fc.array(goodRuleArb, { minLength: 1000, maxLength: 3000 }).map((egress) => ({ egress })), weight: 1 },
      { arbitrary: fc.oneof(fc.jsonValue({ maxDepth: 3 }), weirdValue), weight: 1 },
    ),
    text: rarely(textMutationArb, 12),
    attrs: fileAttrsArb,
  })
  .map(({ value, text, attrs }) => ({ value, attrs, ...(text ? { text: text(JSON.stringify(value)) } : {}) }));

// ---------------------------------------------------------------- whole cases

/** One hook run: the stage, stdin, the bundle, the config, policy files. */
export interface HookCase {
  stage: string;
  state?: unknown;
  text?: string;
  bundle: BundleSpec;
  config?: ConfigSpec;
  policies: PolicySpec[];
  /** After a successful setup: run the other setup stage too (must be a no-op). */
  again: boolean;
  /** --log-level. */
  logLevel?: string;
}

const logLevelArb = rarely(fc.oneof(fc.constantFrom('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), fc.constantFrom('bogus', 'INFO', '', '10'), nastyString), 10);

/** The policy files a case writes are named p0, p1, ... */
export const POLICY_NAMES = ['p0', 'p1', 'p2'];

/** A valid state for a live container: the other inputs decide. */
export const validStateArb = fc.record({ id: validId, i: fc.nat(CONTAINERS - 1), byPid: fc.boolean(), stage: fc.constantFrom(...SETUP_STAGES) });

function validCase(v: { id: string; i: number; byPid: boolean; stage: string }, bundle: BundleSpec, extra: Partial<HookCase>): HookCase {
  const state = { ociVersion: '1.0.2', id: v.id, status: 'creating', pid: v.byPid ? `@SLEEPER${v.i}` : '@SELFPID', bundle: '@BUNDLE' };
  return { stage: v.stage, state, bundle, policies: [], again: false, ...extra };
}

const againArb = fc.boolean();

export const cases = {
  /** Anything on stdin, with a good config and bundle. */
  stdin: fc.record({ stage: stageArb, text: stdinTextArb, bundle: bundleArb({ networks: BASE_NETWORKS, policies: [], valid: true }), logLevel: logLevelArb }).map(
    ({ stage, text, bundle, logLevel }): HookCase => ({ stage, text, bundle, policies: [], again: false, ...(logLevel !== undefined ? { logLevel } : {}) }),
  ),
  /** Mutated fixture states against generated bundles. */
  state: fc.tuple(stateCaseArb({ networks: BASE_NETWORKS, policies: ['deny-all', 'allow-all'] }), againArb).map(
    ([s, again]): HookCase => ({ ...s, policies: [], again }),
  ),
  /** Generated configs, a valid container. */
  config: fc
    .record({ v: validStateArb, config: configArb({ policies: POLICY_NAMES.slice(0, 1) }), policy: policyArb, again: againArb, cpus: rarely(cpusValue, 3), logLevel: logLevelArb })
    .map(({ v, config, policy, again, cpus, logLevel }) =>
      validCase(v, { value: bundleValue({ type: 'network', path: `@NETNS${v.i}` }, undefined, cpus, 'normal') }, { config, policies: [policy], again, ...(logLevel !== undefined ? { logLevel } : {}) }),
    ),
  /** Generated policy files chosen by annotation (state or bundle) or by the config. */
  policy: fc
    .record({
      v: validStateArb,
      policies: fc.array(policyArb, { minLength: 1, maxLength: 3 }),
      pick: fc.nat(2),
      where: fc.constantFrom('state', 'bundle', 'config'),
      again: againArb,
    })
    .map(({ v, policies, pick, where, again }) => {
      const name = POLICY_NAMES[pick % policies.length]!;
      const ann = { 'org.nkit.policy': name };
      const bundle = { value: bundleValue({ type: 'network', path: `@NETNS${v.i}` }, where === 'bundle' ? ann : undefined, undefined, 'normal') };
      const c = validCase(v, bundle, { policies, again });
      if (where === 'state') (c.state as Record<string, unknown>).annotations = ann;
      if (where === 'config') c.config = { value: { ...BASE_CONFIG, policy: name }, attrs: { mode: 0o600, uid: 0 }, via: 'flag' };
      return c;
    }),
  /** Annotations in the state and in the bundle. */
  annotations: fc
    .record({
      v: validStateArb,
      inState: fc.option(annotationsArb({ networks: BASE_NETWORKS, policies: ['deny-all', 'allow-all', 'p0'], stringsOnly: true }), { nil: undefined, freq: 4 }),
      inBundle: fc.option(annotationsArb({ networks: BASE_NETWORKS, policies: ['deny-all', 'allow-all', 'p0'], stringsOnly: false }), { nil: undefined, freq: 4 }),
      policy: policyArb,
    })
    .map(({ v, inState, inBundle, policy }) => {
      const c = validCase(v, { value: bundleValue({ type: 'network', path: `@NETNS${v.i}` }, inBundle, undefined, 'normal') }, { policies: [policy] });
      if (inState) (c.state as Record<string, unknown>).annotations = inState;
      return c;
    }),
};
