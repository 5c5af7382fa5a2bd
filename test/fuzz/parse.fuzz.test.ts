// The pure parsers under the fuzzer's generators (no root, no kernel):
// parseState, parseConfig, parsePolicy + compilePolicy and planContainer
// either return a value that keeps their promises or throw an NkitError
// with a message; nothing else escapes. NKIT_FUZZ_SEED replays a run.
import fc from 'fast-check';
import t from 'tap';
import { parseConfig, type Config } from '../../src/config/config';
import { NkitError } from '../../src/errors';
import { planContainer } from '../../src/plan/plan';
import { compilePolicy } from '../../src/policy/compile';
import { parsePolicy } from '../../src/policy/rules';
import { parseState } from '../../src/spec/oci';
import { BASE_CONFIG, ID_RE, NAME_RE, annotationsArb, cases, configArb, policyArb, stdinTextArb } from './gen';

const seed = process.env.NKIT_FUZZ_SEED ? Number(process.env.NKIT_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const RUNS = 2000;

// Placeholders become plausible values; nothing here touches them.
const resolve = (v: unknown): unknown => {
  if (typeof v === 'string') return /^@SLEEPER\d$|^@SELFPID$/.test(v) ? 4242 : v.startsWith('@') ? `/nonexistent/${v.slice(1).toLowerCase()}` : v;
  if (Array.isArray(v)) return v.map(resolve);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: resolve(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
};
const text = (s: { value: unknown; text?: string }): string => s.text ?? JSON.stringify(resolve(s.value)) ?? '';

// Runs fn; an NkitError with a message is a clean refusal (true), a value is checked by `ok`.
function clean<T>(fn: () => T, ok: (v: T) => boolean): boolean {
  let v: T;
  try {
    v = fn();
  } catch (err) {
    if (err instanceof NkitError && err.message.trim() !== '') return true;
    throw err;
  }
  return ok(v);
}

const check = <Ts extends [unknown, ...unknown[]]>(name: string, prop: fc.IProperty<Ts>, numRuns = RUNS): void => {
  t.test(name, async (t) => {
    const d = fc.check(prop, { numRuns, seed });
    t.notOk(d.failed, `${d.numRuns} cases`, d.failed ? { seed: d.seed, path: d.counterexamplePath, counterexample: JSON.stringify(d.counterexample)?.slice(0, 2000), error: String((d.errorInstance as Error)?.stack ?? d.errorInstance).slice(0, 2000) } : {});
  });
};

t.comment(`seed ${seed}`);

check(
  'parseState: anything on stdin',
  fc.property(fc.oneof(stdinTextArb, cases.state.map((c) => c.text ?? JSON.stringify(resolve(c.state)) ?? '')), (s) =>
    clean(() => parseState(s), (st) => ID_RE.test(st.id) && typeof st.bundle === 'string' && (st.pid === undefined || Number.isInteger(st.pid))),
  ),
);

check(
  'parseConfig: generated configs',
  fc.property(configArb({ policies: ['p0'] }), (c) =>
    clean(
      () => parseConfig(text(c), 'fuzz.json'),
      (cfg) =>
        ['auto', 'netkit', 'veth'].includes(cfg.datapath) &&
        [cfg.runDir, cfg.bpffsDir, cfg.policiesDir].every((p) => p.startsWith('/')) &&
        NAME_RE.test(cfg.policy) &&
        Object.keys(cfg.networks).length > 0 &&
        Object.entries(cfg.networks).every(([n, net]) => NAME_RE.test(n) && net.mtu >= 1280 && net.mtu <= 65535 && net.subnets.length >= 1),
    ),
  ),
);

check(
  'parsePolicy + compilePolicy: generated policy files',
  fc.property(policyArb, (p) =>
    clean(
      () => {
        const pol = parsePolicy(text(p), 'fuzz.json', 'fuzz', 'test');
        return { pol, compiled: compilePolicy(pol) };
      },
      ({ pol, compiled }) =>
        [...pol.ingress, ...pol.egress].every(
          (r) =>
            ['tcp', 'udp', 'icmp', 'any'].includes(r.proto) &&
            (r.ports === null || ((r.proto === 'tcp' || r.proto === 'udp') && r.ports.every(([lo, hi]) => lo >= 1 && hi <= 65535 && lo <= hi))),
        ) && compiled.cidrs.every((c) => c.len <= (c.family === 4 ? 32 : 128)),
    ),
  ),
  // Some cases compile thousands of rules.
  800,
);

const goodCfg = parseConfig(JSON.stringify(resolve(BASE_CONFIG)), 'base') as Config;
check(
  'planContainer: any id, annotations and config',
  fc.property(
    fc.oneof(fc.stringMatching(ID_RE), fc.string(), fc.constantFrom('a', 'constructor', '..')),
    annotationsArb({ networks: ['default', 'other', 'constructor', 'tostring'], policies: ['deny-all', 'p0', 'constructor'], stringsOnly: true }),
    fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: configArb({ policies: ['p0'] }), weight: 1 }),
    (id, ann, c) => {
      let cfg = goodCfg;
      if (c) {
        try {
          cfg = parseConfig(text(c), 'fuzz.json');
        } catch (err) {
          if (!(err instanceof NkitError)) throw err;
        }
      }
      return clean(
        () => planContainer(id, cfg, ann as Record<string, string>),
        (plan) =>
          ID_RE.test(plan.id) &&
          Object.hasOwn(cfg.networks, plan.network) &&
          /^nk[0-9a-f]{12}$/.test(plan.primary) &&
          NAME_RE.test(plan.policy.name) &&
          plan.subnets.length === cfg.networks[plan.network]!.subnets.length,
      );
    },
  ),
);
