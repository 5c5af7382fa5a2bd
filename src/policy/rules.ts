// The policy language: files of rules per direction, validated with ajv and
// then checked rule by rule (CIDR, ports, protocol); errors name the file,
// the rule and the reason. Two policies are built in.
import * as path from 'node:path';
import { readTrustedFile } from '../config/config';
import { NkitError } from '../errors';
import { Prefix, formatPrefix, parsePrefix } from '../ipam/cidr';
import { validateName } from '../plan/naming';
import { parseJson, validate } from '../spec/validate';

export type Proto = 'tcp' | 'udp' | 'icmp' | 'any';
export type Direction = 'ingress' | 'egress';
export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

export interface Rule {
  /** Position in its direction's list (what errors and `policy test` name). */
  index: number;
  cidr: Prefix;
  proto: Proto;
  /** Inclusive port ranges; null: every port (and the only choice for icmp/any). */
  ports: Array<[number, number]> | null;
}

export interface Policy {
  name: string;
  /** Where the choice came from: config, annotation, or the CLI. */
  source: string;
  /** The file it was read from; absent for built-ins. */
  file?: string;
  /** allow-all: everything passes (anti-spoofing still applies). */
  allowAll: boolean;
  ingress: Rule[];
  egress: Rule[];
}

interface RawRule {
  cidr: string;
  proto: Proto;
  ports?: string | number;
}
interface RawPolicy {
  ingress?: RawRule[];
  egress?: RawRule[];
}

export const BUILTIN_POLICIES = ['deny-all', 'allow-all'] as const;

// Parses "80", "80,443", "8000-8100" (and a bare number) into ranges.
export function parsePorts(spec: string | number, where: string): Array<[number, number]> {
  const text = String(spec).trim();
  if (text === '') throw new NkitError('EINPUT', `${where}: empty port list`);
  return text.split(',').map((part) => {
    const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(part);
    if (!m) throw new NkitError('EINPUT', `${where}: "${part.trim()}" is not a port or a range (e.g. 80, 8000-8100)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (const p of [lo, hi]) if (p < 1 || p > 65535) throw new NkitError('EINPUT', `${where}: port ${p} is out of range (1-65535)`);
    if (hi < lo) throw new NkitError('EINPUT', `${where}: range ${lo}-${hi} is backwards`);
    return [lo, hi] as [number, number];
  });
}

// Parses policy text (pure); `label` names it in errors.
export function parsePolicy(text: string, label: string, name: string, source: string, file?: string): Policy {
  const what = `policy ${label}`;
  const raw = validate<RawPolicy>('policy', parseJson(text, what), what);
  const dir = (d: Direction): Rule[] =>
    (raw[d] ?? []).map((r, index) => {
      const where = `${what}: ${d}[${index}]`;
      let cidr: Prefix;
      try {
        cidr = parsePrefix(r.cidr);
      } catch (err) {
        throw new NkitError('EINPUT', `${where}: ${(err as Error).message}`, { cause: err });
      }
      if (r.ports !== undefined && (r.proto === 'icmp' || r.proto === 'any')) {
        throw new NkitError('EINPUT', `${where}: ports given for proto ${r.proto} (ports apply to tcp and udp only)`);
      }
      return { index, cidr, proto: r.proto, ports: r.ports === undefined ? null : parsePorts(r.ports, where) };
    });
  return { name, source, ...(file ? { file } : {}), allowAll: false, ingress: dir('ingress'), egress: dir('egress') };
}

// A policy by name: a built-in, or <policiesDir>/<name>.json (root-owned).
export function loadPolicy(name: string, policiesDir: string, source: string): Policy {
  validateName('policy', name, source);
  if (name === 'deny-all') return { name, source, allowAll: false, ingress: [], egress: [] };
  if (name === 'allow-all') return { name, source, allowAll: true, ingress: [], egress: [] };
  const file = path.join(policiesDir, `${name}.json`);
  return loadPolicyFile(file, name, source);
}

// A policy from an explicit file path.
export function loadPolicyFile(file: string, name: string, source: string): Policy {
  let text: string;
  try {
    text = readTrustedFile(file);
  } catch (err) {
    if (err instanceof NkitError) throw err;
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new NkitError('EINPUT', missing ? `unknown policy "${name}" (from ${source}): no file ${file}` : `read policy ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: `built-in policies: ${BUILTIN_POLICIES.join(', ')}; others are files in the policies directory`,
    });
  }
  return parsePolicy(text, file, name, source, file);
}

// The policy as JSON again (for `nkit policy show` and the applied copy).
export function policyToJson(p: Policy): Record<string, unknown> {
  const rule = (r: Rule): Record<string, unknown> => ({
    cidr: formatPrefix(r.cidr),
    proto: r.proto,
    ...(r.ports ? { ports: r.ports.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',') } : {}),
  });
  return { ingress: p.ingress.map(rule), egress: p.egress.map(rule) };
}
