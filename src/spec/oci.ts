// The OCI inputs a hook gets: the state on stdin and the bundle's config.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NkitError } from '../errors';
import { validateContainerId } from '../plan/naming';
import { parseJson, validate } from './validate';
import { cpusetOf } from '../numa/cpuset';

export interface OciState {
  ociVersion: string;
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped';
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

// Parses and validates hook stdin; the id is checked before anything uses it.
export function parseState(text: string): OciState {
  const state = validate<OciState>('oci-state', parseJson(text, 'OCI state on stdin'), 'OCI state on stdin');
  validateContainerId(state.id);
  return state;
}

export interface BundleInfo {
  /** linux.namespaces network entry: absent = shares the runtime's netns. */
  netns: { present: false } | { present: true; path?: string };
  annotations: Record<string, string>;
  /** linux.resources.cpu.cpus, when the container is pinned. */
  cpuset?: number[];
}

// Reads what nkit needs from <bundle>/config.json.
export function readBundle(bundle: string, id: string): BundleInfo {
  const file = path.join(bundle, 'config.json');
  let text: string;
  try {
    text = readRegularFile(file);
  } catch (err) {
    const why = err instanceof NotRegular ? `: ${err.message}` : '';
    throw new NkitError('EINPUT', `container ${id}: cannot read bundle config ${file}${why}`, { cause: err });
  }
  const cfg = parseJson(text, `container ${id}: bundle config ${file}`) as {
    linux?: { namespaces?: Array<{ type?: unknown; path?: unknown }> };
    annotations?: unknown;
  };
  const nsList = Array.isArray(cfg?.linux?.namespaces) ? cfg.linux.namespaces : [];
  const net = nsList.find((n) => n && n.type === 'network');
  const annotations: Record<string, string> = {};
  if (cfg && typeof cfg.annotations === 'object' && cfg.annotations !== null) {
    for (const [k, v] of Object.entries(cfg.annotations as Record<string, unknown>)) if (typeof v === 'string') annotations[k] = v;
  }
  const cpuset = cpusetOf(cfg, `container ${id}: bundle config ${file}`);
  const extra = cpuset ? { cpuset } : {};
  if (!net) return { netns: { present: false }, annotations, ...extra };
  if (net.path !== undefined && (typeof net.path !== 'string' || !path.isAbsolute(net.path))) {
    throw new NkitError('EINPUT', `container ${id}: network namespace path in ${file} must be an absolute path`);
  }
  return { netns: net.path ? { present: true, path: net.path as string } : { present: true }, annotations, ...extra };
}

class NotRegular extends Error {}

// Reads a file that must be a regular one. Checked before the open, and
// opened without blocking: a FIFO at a bundle path hung the hook (found by
// test/fuzz), and opening some devices has side effects.
function readRegularFile(file: string): string {
  if (!fs.statSync(file).isFile()) throw new NotRegular('not a regular file');
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  try {
    if (!fs.fstatSync(fd).isFile()) throw new NotRegular('not a regular file');
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
