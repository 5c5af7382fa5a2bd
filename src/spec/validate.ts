// JSON Schema validation with ajv: the schemas live in config/schema/. The
// build generates standalone validators (packaging/gen-validators.js), so a
// hook starts without ajv's compiler (and the bundle and startup snapshot
// carry them); without them (a checkout not built with `make build`) the
// schemas are compiled on first use. Errors become one sentence naming the
// bad key.
import type { ErrorObject, ValidateFunction } from 'ajv';
import { NkitError } from '../errors';
import { ajvOptions, readSchema, SchemaName, standaloneExport } from './schemas';

export type { SchemaName } from './schemas';

const compiled = new Map<SchemaName, ValidateFunction>();

function generated(): Record<string, ValidateFunction> | undefined {
  try {
    // A literal path: esbuild bundles it; tsc leaves it alone.
    return require('./validators.generated') as Record<string, ValidateFunction>;
  } catch {
    return undefined;
  }
}

function validator(name: SchemaName): ValidateFunction {
  let v = compiled.get(name);
  if (!v) {
    v = generated()?.[standaloneExport(name)];
    if (!v) {
      const Ajv = (require('ajv') as typeof import('ajv')).default;
      v = new Ajv(ajvOptions()).compile(readSchema(name));
    }
    compiled.set(name, v);
  }
  return v;
}

// "/networks/default/mtu" -> "networks.default.mtu", "/egress/3/proto" ->
// "egress[3].proto"; the root is "(top level)".
function keyPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  if (!parts.length) return '(top level)';
  return parts.reduce((acc, p, i) => (/^\d+$/.test(p) ? `${acc}[${p}]` : i === 0 ? p : `${acc}.${p}`), '');
}

// One readable sentence for an ajv error.
export function describeError(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  // Errors from a propertyNames schema carry the offending key here.
  const badKey = (e as ErrorObject & { propertyName?: string }).propertyName;
  if (badKey !== undefined && e.keyword !== 'propertyNames') {
    return `invalid key ${JSON.stringify(badKey)} in "${keyPath(e.instancePath)}"${p.pattern ? ` (must match ${String(p.pattern)})` : ''}`;
  }
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown key "${keyPath(e.instancePath, String(p.additionalProperty))}"`;
    case 'required':
      return `missing key "${keyPath(e.instancePath, String(p.missingProperty))}"`;
    case 'enum':
      return `"${keyPath(e.instancePath)}" must be one of ${(p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`;
    case 'propertyNames':
      return `invalid key ${JSON.stringify(p.propertyName)} in "${keyPath(e.instancePath)}"`;
    default:
      return `"${keyPath(e.instancePath)}" ${e.message ?? 'is invalid'}`;
  }
}

// Validates (and fills defaults into) value; throws code with "<what>: <reason>".
export function validate<T>(name: SchemaName, value: unknown, what: string, code: 'EINPUT' | 'ECONFIG' = 'EINPUT'): T {
  const v = validator(name);
  if (!v(value)) {
    const first = v.errors?.[0];
    throw new NkitError(code, `${what}: ${first ? describeError(first) : 'invalid'}`);
  }
  return value as T;
}

// Parses JSON text; throws EINPUT/ECONFIG naming what was parsed and where it broke.
export function parseJson(text: string, what: string, code: 'EINPUT' | 'ECONFIG' = 'EINPUT'): unknown {
  if (text.trim() === '') throw new NkitError(code, `${what}: empty input (expected JSON)`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new NkitError(code, `${what}: malformed JSON (${(err as Error).message})`, { cause: err });
  }
}
