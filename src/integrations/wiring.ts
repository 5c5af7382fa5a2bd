// Whether nkit's OCI hooks are wired into each container runtime on this
// host (Podman, CRI-O, containerd, runc, crun), and the exact file to add
// when they are not. Read-only: file reads and `<runtime> --version`.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Where to look (tests pass fake trees) and what to suggest. */
export interface WiringOptions {
  /** Stands for /etc (default "/etc"). */
  etcRoot?: string;
  /** Stands for /usr (default "/usr"). */
  usrRoot?: string;
  /** Stands for /opt, where NRI plugins live (default "/opt"). */
  optRoot?: string;
  /** The installed nkit-oci-hook the suggested files point at (default /usr/libexec/nkit/nkit-oci-hook). */
  hookPath?: string;
  /** First line of `<binary> --version` (default: run it; undefined when it cannot run). */
  versionOf?: (binary: string) => string | undefined;
}

/** One runtime's verdict. `fix` says what to add when it is not wired. */
export interface RuntimeWiring {
  runtime: string;
  found: boolean;
  wired: boolean;
  detail: string;
  fix?: string;
}

export const DEFAULT_HOOK_PATH = '/usr/libexec/nkit/nkit-oci-hook';
export const HOOKS_DIR_USR = '/usr/share/containers/oci/hooks.d';
export const HOOKS_DIR_ETC = '/etc/containers/oci/hooks.d';
/** The names packaging/hooks.d ships; a same-named file in a later dir masks an earlier one. */
export const HOOK_FILES = { createRuntime: 'nkit-create-runtime.json', poststop: 'nkit-poststop.json' } as const;
const SETUP = ['createRuntime', 'prestart'];

/** The hooks.d (oci-hooks(5), version 1.0.0) file for one stage, as packaging/hooks.d ships it. */
export function hooksDFile(stage: 'createRuntime' | 'poststop', match: 'annotation' | 'always', hookPath = DEFAULT_HOOK_PATH): object {
  return {
    version: '1.0.0',
    hook: { path: hookPath, args: ['nkit-oci-hook', stage], timeout: 30 },
    when: match === 'always' ? { always: true } : { annotations: { '^org\\.nkit\\.network$': '.*' } },
    stages: [stage],
  };
}

/** The config.json `hooks` for a runc/crun bundle or a containerd base spec. */
export function specHooks(hookPath = DEFAULT_HOOK_PATH): Record<string, object[]> {
  const h = (stage: string): object => ({ path: hookPath, args: ['nkit-oci-hook', stage], timeout: 30 });
  return { createRuntime: [h('createRuntime')], poststop: [h('poststop')] };
}

/** One hook as a hooks.d file describes it, either format version. */
export interface HookDef {
  path: string;
  args: string[];
  stages: string[];
  when: string;
}

/** Parse a hooks.d file (1.0.0, or CRI-O's legacy 0.1.0); undefined when it is not one. */
export function parseHookFile(text: string): HookDef | undefined {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
  if (j['version'] === '1.0.0' && typeof j['hook'] === 'object' && j['hook'] !== null) {
    const hook = j['hook'] as Record<string, unknown>;
    const when = (j['when'] ?? {}) as Record<string, unknown>;
    const desc = when['always'] === true ? 'always' : when['annotations'] ? `annotations ${Object.keys(when['annotations'] as object).join(', ')}` : Object.keys(when).join(', ') || 'never';
    return { path: String(hook['path'] ?? ''), args: strs(hook['args']), stages: strs(j['stages']), when: desc };
  }
  if (typeof j['hook'] === 'string') {
    // 0.1.0: "arguments" come after the path; "stage" is a list.
    const desc = j['annotations'] ? 'annotations' : j['cmds'] ? 'cmds' : 'always';
    return { path: j['hook'], args: [j['hook'], ...strs(j['arguments'])], stages: strs(j['stage']), when: desc };
  }
  return undefined;
}

const isNkitHook = (path: string): boolean => basename(path) === 'nkit-oci-hook';
// The hook acts on the stage named by its last argument, whatever stage runs it.
const acts = (h: { args?: string[] }, stages: string[]): boolean => stages.includes(h.args?.[h.args.length - 1] ?? '');

/** One hooks.d file that took effect: the dir it came from, its name, what it says. */
export interface EffectiveHook {
  dir: string;
  name: string;
  def: HookDef | undefined;
}

/** Apply oci-hooks(5) masking: dirs in increasing precedence; a later file of the same name wins. */
export function effectiveHooks(dirs: { dir: string; names: string[]; read: (name: string) => string | undefined }[]): EffectiveHook[] {
  const byName = new Map<string, EffectiveHook>();
  for (const d of dirs) {
    for (const name of d.names.filter((n) => n.endsWith('.json'))) {
      const text = d.read(name);
      byName.set(name, { dir: d.dir, name, def: text === undefined ? undefined : parseHookFile(text) });
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Whether the effective hooks set up and tear down with nkit-oci-hook, and a one-line account. */
export function judgeHooks(hooks: EffectiveHook[], exists: (path: string) => boolean): { wired: boolean; detail: string } {
  const nkit = hooks.filter((h) => h.def && isNkitHook(h.def.path));
  const setup = nkit.filter((h) => h.def!.stages.some((s) => SETUP.includes(s)) && acts(h.def!, SETUP));
  const teardown = nkit.filter((h) => h.def!.stages.includes('poststop') && acts(h.def!, ['poststop']));
  const where = (hs: EffectiveHook[]): string => hs.map((h) => `${join(h.dir, h.name)} (${h.def!.stages.join(',')}; when ${h.def!.when})`).join(', ');
  if (setup.length === 0 && teardown.length === 0) return { wired: false, detail: 'no hooks.d file runs nkit-oci-hook' };
  if (setup.length === 0) return { wired: false, detail: `teardown only: ${where(teardown)}; nothing runs nkit-oci-hook createRuntime` };
  if (teardown.length === 0) return { wired: false, detail: `setup only: ${where(setup)}; nothing runs nkit-oci-hook poststop, so networks would leak` };
  const missing = [...setup, ...teardown].map((h) => h.def!.path).filter((p) => !exists(p));
  if (missing.length > 0) return { wired: false, detail: `${where([...setup, ...teardown])} point at ${[...new Set(missing)].join(', ')}, which is not an executable` };
  return { wired: true, detail: where([...setup, ...teardown]) };
}

/** A key = value of a TOML file, with the [table] it sits in. */
export interface TomlEntry {
  table: string;
  key: string;
  value: unknown;
}

/**
 * The key/value pairs of a TOML file: strings, booleans, numbers and arrays of
 * them, enough for containers.conf, crio.conf and containerd's config.toml.
 * Not a TOML parser: inline tables and multi-line strings are skipped.
 */
export function scanToml(text: string): TomlEntry[] {
  const out: TomlEntry[] = [];
  let table = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = stripComment(lines[i]!).trim();
    const header = /^\[\[?\s*(.+?)\s*\]\]?$/.exec(line);
    if (header) {
      table = header[1]!.replace(/\s*\.\s*/g, '.');
      continue;
    }
    const kv = /^("[^"]*"|[A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) continue;
    let raw = kv[2]!;
    while (raw.startsWith('[') && !balanced(raw) && i + 1 < lines.length) raw += ` ${stripComment(lines[++i]!).trim()}`;
    const value = tomlValue(raw);
    if (value !== undefined) out.push({ table, key: kv[1]!.replace(/^"|"$/g, ''), value });
  }
  return out;
}

function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') return line.slice(0, i);
  }
  return line;
}

const balanced = (s: string): boolean => (s.match(/\[/g) ?? []).length <= (s.match(/\]/g) ?? []).length;

function tomlValue(raw: string): unknown {
  const s = raw.trim();
  if (s === 'true' || s === 'false') return s === 'true';
  if (/^[+-]?\d+$/.test(s)) return Number(s);
  if (s.startsWith("'")) return s.endsWith("'") && s.length > 1 ? s.slice(1, -1) : undefined;
  if (s.startsWith('"')) {
    try {
      return JSON.parse(s) as string;
    } catch {
      return undefined;
    }
  }
  if (s.startsWith('[')) {
    const items = s.slice(1, s.lastIndexOf(']')).match(/"(?:[^"\\]|\\.)*"|'[^']*'|[^,\s]+/g) ?? [];
    return items.map((it) => tomlValue(it)).filter((v) => v !== undefined);
  }
  return undefined;
}

/** The last value of `key` in a table matching `table` (a regexp), from files read in order. */
export function lastValue(entries: TomlEntry[], table: RegExp, key: string): unknown {
  const hits = entries.filter((e) => e.key === key && table.test(e.table));
  return hits.length ? hits[hits.length - 1]!.value : undefined;
}

/** The containerd release from `containerd --version` ("containerd ... 1.6.20~ds1 ..." -> [1, 6]). */
export function parseContainerdVersion(line: string | undefined): [number, number] | undefined {
  const m = /\sv?(\d+)\.(\d+)\.\d+/.exec(` ${line ?? ''}`);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const NRI_TABLE = /(^|\.)"?io\.containerd\.nri\.v1\.nri"?$/;

/** containerd's verdict from its parsed config and what is on disk (pure: wiringReport reads them). */
export function judgeContainerd(o: {
  version: [number, number] | undefined;
  config: TomlEntry[];
  configFiles: string[];
  injector: string | undefined;
  hooks: { wired: boolean; detail: string };
  baseSpecs: { path: string; wired: boolean; detail: string }[];
  hookPath: string;
}): { wired: boolean; detail: string; fix?: string } {
  const [major, minor] = o.version ?? [0, 0];
  const known = o.version !== undefined;
  const nriCapable = !known || major >= 2 || (major === 1 && minor >= 7);
  const disable = lastValue(o.config, NRI_TABLE, 'disable');
  const cfgVersion = lastValue(o.config, /^$/, 'version');
  // NRI is on by default from 2.0 (config version 3), off by default in 1.7.
  const nriOn = nriCapable && (disable === false || (disable === undefined && (major >= 2 || cfgVersion === 3)));
  const parts: string[] = [known ? `containerd ${major}.${minor}` : 'containerd (version unknown)'];
  parts.push(!nriCapable ? 'no NRI (needs 1.7)' : nriOn ? 'NRI on' : 'NRI off');
  if (nriCapable) parts.push(o.injector ? `hook injector ${o.injector}` : 'no NRI hook injector');
  const viaNri = nriOn && o.injector !== undefined && o.hooks.wired;
  if (o.injector !== undefined || o.hooks.wired) parts.push(`hooks.d: ${o.hooks.detail}`);
  for (const b of o.baseSpecs) parts.push(`base_runtime_spec ${b.path}: ${b.detail}`);
  const viaSpec = o.baseSpecs.some((b) => b.wired);
  if (viaNri || viaSpec) return { wired: true, detail: parts.join('; ') };
  const cfgFile = o.configFiles[0] ?? '/etc/containerd/config.toml';
  const steps: string[] = [];
  if (nriCapable) {
    if (!nriOn) steps.push(`set disable = false in [plugins."io.containerd.nri.v1.nri"] of ${cfgFile} (packaging/containerd/nri.toml) and restart containerd`);
    if (!o.injector) steps.push('link the NRI hook injector (containerd/nri plugins/hook-injector) as /opt/nri/plugins/10-hook-injector');
    if (!o.hooks.wired) steps.push(`add ${join(HOOKS_DIR_USR, HOOK_FILES.createRuntime)} and ${join(HOOKS_DIR_USR, HOOK_FILES.poststop)} (packaging/hooks.d/, hook path ${o.hookPath})`);
  } else {
    steps.push(
      `write a base spec with nkit's hooks: ctr oci spec | /usr/share/nkit/containerd/nkit-base-spec > /etc/nkit/containerd-spec.json; ` +
        'start containers with ctr run --config (or base_runtime_spec for CRI, see the README)',
    );
  }
  return { wired: false, detail: parts.join('; '), fix: steps.join('; ') };
}

/** The report for every runtime nkit knows; `found` says whether its binary is on this host. */
export function wiringReport(opts: WiringOptions = {}): RuntimeWiring[] {
  const etc = opts.etcRoot ?? '/etc';
  const usr = opts.usrRoot ?? '/usr';
  const opt = opts.optRoot ?? '/opt';
  const hookPath = opts.hookPath ?? DEFAULT_HOOK_PATH;
  const versionOf = opts.versionOf ?? runVersion;
  // Host paths named in config files are read under the injected roots.
  const rooted = (p: string): string => {
    for (const [prefix, root] of [['/etc', etc], ['/usr', usr], ['/opt', opt]] as const) {
      if (p === prefix || p.startsWith(`${prefix}/`)) return root + p.slice(prefix.length);
    }
    return p;
  };
  const exists = (p: string): boolean => isExecutable(rooted(p));
  const binary = (name: string): string | undefined =>
    ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'].map((d) => `${d}/${name}`).find(exists);
  const hooksIn = (dirs: string[]): { wired: boolean; detail: string } =>
    judgeHooks(effectiveHooks(dirs.map((dir) => ({ dir, names: list(rooted(dir)), read: (n: string) => readText(join(rooted(dir), n)) }))), exists);
  const tomls = (files: string[]): TomlEntry[] => files.flatMap((f) => scanToml(readText(rooted(f)) ?? ''));
  const confD = (dir: string, ext: string): string[] => list(rooted(dir)).filter((n) => n.endsWith(ext)).sort().map((n) => join(dir, n));
  const addFix = (dir: string): string =>
    `add ${join(dir, HOOK_FILES.createRuntime)} and ${join(dir, HOOK_FILES.poststop)} from packaging/hooks.d/ ` +
    `(annotation-matched; packaging/hooks.d/always/, /usr/share/nkit/hooks.d/always/ when packaged, for every container), hook path ${hookPath}`;
  const out: RuntimeWiring[] = [];

  // Podman: containers.conf [engine] hooks_dir, else only /usr/share/... (seen with 4.3.1: a
  // file in /etc/containers/oci/hooks.d is ignored unless hooks_dir names that dir).
  const podman = binary('podman');
  const podmanConf = tomls(['/usr/share/containers/containers.conf', '/etc/containers/containers.conf', ...confD('/etc/containers/containers.conf.d', '.conf')]);
  const podmanDirs = strings(lastValue(podmanConf, /^engine$/, 'hooks_dir')) ?? [HOOKS_DIR_USR];
  out.push(hooksVerdict('podman', podman, podmanDirs, hooksIn, addFix));

  // CRI-O: [crio.runtime] hooks_dir in crio.conf and crio.conf.d, else its default, /usr/share/....
  const crio = binary('crio');
  const crioConf = tomls(['/etc/crio/crio.conf', ...confD('/etc/crio/crio.conf.d', '.conf')]);
  const crioDirs = strings(lastValue(crioConf, /^crio\.runtime$/, 'hooks_dir')) ?? [HOOKS_DIR_USR];
  out.push(hooksVerdict('cri-o', crio, crioDirs, hooksIn, addFix));

  // containerd: NRI + hook injector (it reads both standard dirs, /etc winning), or a base_runtime_spec with the hooks.
  const containerd = binary('containerd');
  if (!containerd) out.push({ runtime: 'containerd', found: false, wired: false, detail: 'containerd not found' });
  else {
    const main = '/etc/containerd/config.toml';
    const imports = (strings(lastValue(tomls([main]), /^$/, 'imports')) ?? []).flatMap((p) =>
      basename(p).includes('*') ? confD(dirname(p), basename(p).replace(/^.*\*/, '')) : [p],
    );
    const config = tomls([main, ...imports]);
    const pluginPath = String(lastValue(config, NRI_TABLE, 'plugin_path') ?? '/opt/nri/plugins');
    const injector =
      list(rooted(pluginPath)).filter((n) => /^\d+-.*hook-injector/.test(n)).map((n) => join(pluginPath, n))[0] ??
      ['/etc/systemd/system', '/usr/lib/systemd/system']
        .flatMap((d) => list(rooted(d)).filter((n) => /hook-injector.*\.service$/.test(n)).map((n) => join(d, n)))[0];
    const baseSpecs = config
      .filter((e) => e.key === 'base_runtime_spec' && typeof e.value === 'string' && e.value !== '')
      .map((e) => ({ path: e.value as string, ...specVerdict(readText(rooted(e.value as string)), exists) }));
    const v = judgeContainerd({
      version: parseContainerdVersion(versionOf(containerd)),
      config,
      configFiles: [main, ...imports],
      injector,
      hooks: hooksIn([HOOKS_DIR_USR, HOOKS_DIR_ETC]),
      baseSpecs,
      hookPath,
    });
    out.push({ runtime: 'containerd', found: true, ...v });
  }

  // runc and crun read no global hook configuration: hooks live in each bundle.
  for (const name of ['runc', 'crun']) {
    const bin = binary(name);
    out.push({
      runtime: name,
      found: bin !== undefined,
      wired: false,
      detail: bin ? `${bin}: hooks are per bundle: each container's config.json must carry them (Podman, CRI-O and containerd add them for you)` : `${name} not found`,
      ...(bin ? { fix: `"hooks": ${JSON.stringify(specHooks(hookPath))}` } : {}),
    });
  }
  return out;
}

function hooksVerdict(
  runtime: string,
  bin: string | undefined,
  dirs: string[],
  hooksIn: (dirs: string[]) => { wired: boolean; detail: string },
  addFix: (dir: string) => string,
): RuntimeWiring {
  if (!bin) return { runtime, found: false, wired: false, detail: `${runtime} not found` };
  const v = hooksIn(dirs);
  const detail = `${bin}, hooks dirs ${dirs.join(', ')}: ${v.detail}`;
  // The dir the runtime reads last (it wins over earlier ones with a file of the same name).
  const target = dirs[dirs.length - 1] ?? HOOKS_DIR_USR;
  return v.wired ? { runtime, found: true, wired: true, detail } : { runtime, found: true, wired: false, detail, fix: addFix(target) };
}

function specVerdict(text: string | undefined, exists: (p: string) => boolean): { wired: boolean; detail: string } {
  if (text === undefined) return { wired: false, detail: 'unreadable' };
  let hooks: Record<string, { path?: string; args?: string[] }[]>;
  try {
    hooks = ((JSON.parse(text) as { hooks?: typeof hooks }).hooks ?? {}) as typeof hooks;
  } catch {
    return { wired: false, detail: 'not JSON' };
  }
  const has = (stages: string[]): boolean =>
    stages.some((s) => (hooks[s] ?? []).some((h) => isNkitHook(h.path ?? '') && acts(h, stages) && exists(h.path!)));
  if (has(SETUP) && has(['poststop'])) return { wired: true, detail: 'carries nkit-oci-hook at createRuntime and poststop' };
  return { wired: false, detail: 'lacks nkit-oci-hook at createRuntime and poststop' };
}

const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.map(String) : undefined);

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function runVersion(binary: string): string | undefined {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch {
    return undefined;
  }
}
