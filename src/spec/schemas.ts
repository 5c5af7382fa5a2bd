// The JSON Schemas nkit validates with, and the ajv options: the runtime
// compiler (validate.ts) and the build-time generator of standalone
// validators (packaging/gen-validators.js) read the same files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Options } from 'ajv';
import { packageRoot } from '../native';

export type SchemaName = 'config' | 'oci-state' | 'annotations' | 'policy';
export const SCHEMA_NAMES: readonly SchemaName[] = ['config', 'oci-state', 'annotations', 'policy'];

// Shared with packaging/gen-validators.js, which makes the standalone code.
export function ajvOptions(): Options {
  return JSON.parse(fs.readFileSync(path.join(packageRoot(), 'config', 'schema', 'ajv-options.json'), 'utf8')) as Options;
}

export function readSchema(name: SchemaName): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(packageRoot(), 'config', 'schema', `${name}.schema.json`), 'utf8')) as Record<string, unknown>;
}

// Exported names of the standalone module: "oci-state" -> "oci_state".
export const standaloneExport = (name: SchemaName): string => name.replace(/-/g, '_');
