// OCI bundles for test containers: `runc spec` output adjusted for a test.
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { findExecutable, runOk } from './exec';
import { buildRootfs, type RootfsOptions } from './rootfs';
import { tempDir, type Scope } from './scope';

/** The OCI runtimes the e2e tests drive. */
export type Runtime = 'runc' | 'crun';

/** OCI hook stages, in the order runtimes run them. */
export const HOOK_STAGES = [
  'prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop',
] as const;
/** One OCI hook stage name. */
export type HookStage = (typeof HOOK_STAGES)[number];

/** One OCI hook entry (config.json hooks.<stage>[]). */
export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** config.json hooks: a list of hooks per stage. */
export type OciHooks = Partial<Record<HookStage, OciHook[]>>;

/** One process.rlimits entry. */
export interface OciRlimit {
  type: string;
  hard: number;
  soft: number;
}

/** The parts of config.json tests touch; everything else is kept as `runc spec` wrote it. */
export interface OciConfig {
  ociVersion: string;
  process: {
    terminal?: boolean;
    args: string[];
    env?: string[];
    rlimits?: OciRlimit[];
    [k: string]: unknown;
  };
  root: { path: string; readonly?: boolean };
  hostname?: string;
  annotations?: Record<string, string>;
  hooks?: OciHooks;
  linux?: {
    namespaces?: { type: string; path?: string }[];
    resources?: unknown;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** What a test wants different from the generated spec. */
export interface BundleOptions {
  /** Container command line. */
  args: string[];
  /** Container environment (default: a PATH that reaches /bin). */
  env?: string[];
  hostname?: string;
  annotations?: Record<string, string>;
  hooks?: OciHooks;
  /** Join this network namespace (e.g. /run/netns/x) instead of getting a new one. */
  netnsPath?: string;
  /** Tailor for this runtime: 'crun' implies dropResources. */
  runtime?: Runtime;
  /**
   * Delete linux.resources. crun 1.8.1 on this host fails with it: its devices rule
   * becomes an eBPF cgroup program, and crun first raises RLIMIT_MEMLOCK, which
   * needs CAP_SYS_RESOURCE ("setrlimit (RLIM_MEMLOCK): Operation not permitted").
   */
  dropResources?: boolean;
  /**
   * process.rlimits: undefined keeps the spec's (RLIMIT_NOFILE 1024, a lowering,
   * which works without CAP_SYS_RESOURCE), null removes them, a list replaces them.
   */
  rlimits?: OciRlimit[] | null;
  /** Last word: edit the config in place after all the above. */
  edit?: (config: OciConfig) => void;
}

/** A bundle on disk. */
export interface Bundle {
  dir: string;
  configPath: string;
  rootfs: string;
  config: OciConfig;
}

/** Apply a test's options to a generated spec (pure: returns a new config). */
export function applyBundleOptions(base: OciConfig, opts: BundleOptions): OciConfig {
  const c = structuredClone(base);
  c.process.terminal = false;
  c.process.args = [...opts.args];
  c.process.env = opts.env ? [...opts.env] : ['PATH=/bin:/sbin:/usr/bin:/usr/sbin', 'HOME=/root'];
  c.root = { ...c.root, readonly: false };
  if (opts.hostname !== undefined) c.hostname = opts.hostname;
  if (opts.annotations !== undefined) c.annotations = { ...opts.annotations };
  if (opts.hooks !== undefined) c.hooks = structuredClone(opts.hooks);
  const linux = (c.linux ??= {});
  const namespaces = (linux.namespaces ??= []);
  const net = namespaces.find((n) => n.type === 'network');
  if (opts.netnsPath !== undefined) {
    if (net) net.path = opts.netnsPath;
    else namespaces.push({ type: 'network', path: opts.netnsPath });
  } else if (!net) {
    namespaces.push({ type: 'network' });
  }
  if (opts.dropResources || opts.runtime === 'crun') delete linux.resources;
  if (opts.rlimits === null) delete c.process.rlimits;
  else if (opts.rlimits !== undefined) c.process.rlimits = structuredClone(opts.rlimits);
  opts.edit?.(c);
  return c;
}

/** Generate config.json in `dir` with `runc spec` (or `crun spec` where runc is missing). */
export async function generateSpec(dir: string): Promise<OciConfig> {
  const tool = findExecutable('runc') ? 'runc' : 'crun';
  await runOk([tool, 'spec'], { cwd: dir, timeoutMs: 10_000 });
  return JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as OciConfig;
}

/**
 * Create a bundle: a temp dir removed with the scope (or `dir`), a busybox rootfs
 * in it (or `rootfs`, an existing absolute path), and config.json from `runc spec`
 * with `opts` applied.
 */
export async function createBundle(
  scope: Scope,
  opts: BundleOptions & { dir?: string; rootfs?: string; rootfsOptions?: RootfsOptions },
): Promise<Bundle> {
  const dir = opts.dir ?? (await tempDir(scope, 'nkt-bundle-'));
  let rootfs = opts.rootfs;
  if (rootfs === undefined) rootfs = await buildRootfs(join(dir, 'rootfs'), opts.rootfsOptions);
  else if (!isAbsolute(rootfs)) throw new Error(`rootfs must be an absolute path: ${rootfs}`);
  const config = applyBundleOptions(await generateSpec(dir), opts);
  // Relative when it is ours, as in real bundles (crun echoes it in the state's `root`).
  config.root.path = opts.rootfs ?? 'rootfs';
  const configPath = join(dir, 'config.json');
  await writeFile(configPath, JSON.stringify(config, null, 2));
  return { dir, configPath, rootfs, config };
}
