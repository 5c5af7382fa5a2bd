// The OCI hook's lifecycle entry: which stages do what, and the wiring from
// stdin + config to setup or teardown.
import { LoadedConfig, loadConfig, logFileOf, resolveConfigPath } from '../config/config';
import { NkitError, asNkitError } from '../errors';
import { createLogger, Logger } from '../log';
import { parseState, readBundle } from '../spec/oci';
import { setupContainer } from './setup';
import { teardownContainer } from './teardown';

export const SETUP_STAGES = ['createRuntime', 'prestart'] as const;
export const TEARDOWN_STAGES = ['poststop'] as const;
export const IGNORED_STAGES = ['createContainer', 'startContainer', 'poststart'] as const;
export const ALL_STAGES = [...SETUP_STAGES, ...TEARDOWN_STAGES, ...IGNORED_STAGES] as readonly string[];

export interface HookOptions {
  stage: string;
  stdin: string;
  configFlag?: string;
  logLevel?: string;
  env: NodeJS.ProcessEnv;
}

export interface HookOutcome {
  id?: string;
  summary: string;
}

// Loads the config named by --config / NKIT_CONFIG / the defaults.
export function loadHookConfig(flag: string | undefined, env: NodeJS.ProcessEnv): LoadedConfig {
  return loadConfig(resolveConfigPath(flag, env).file);
}

// Runs one hook stage. Throws NkitError; `err.containerId` names the
// container when it was known.
export function ociHook(o: HookOptions): HookOutcome {
  if (!ALL_STAGES.includes(o.stage)) {
    throw new NkitError('EUSAGE', `unknown stage "${o.stage}"`, { hint: `expected one of ${ALL_STAGES.join(', ')}` });
  }
  if ((IGNORED_STAGES as readonly string[]).includes(o.stage)) return { summary: `stage ${o.stage}: nothing to do` };
  const cfg = loadHookConfig(o.configFlag, o.env);
  const log = openHookLog(cfg, o.logLevel).child({ stage: o.stage });
  let id: string | undefined;
  // The native hook client ran us because the agent was not there.
  if (o.env.NKIT_FALLBACK_REASON) log.info({ reason: o.env.NKIT_FALLBACK_REASON }, 'in-process: the agent is not available');
  if (o.env.NKIT_SNAPSHOT === 'unusable') log.warn('the startup snapshot does not load with this node binary or CPU: the hook runs without it (slower); rebuild it');
  try {
    const state = parseState(o.stdin);
    id = state.id;
    if ((SETUP_STAGES as readonly string[]).includes(o.stage)) return { id, summary: setup(state, cfg, log) };
    const r = teardownContainer(state.id, cfg, log);
    return { id, summary: r.found ? `removed ${r.removed.length} objects` : 'nothing to tear down' };
  } catch (err) {
    log.error({ id, err }, `${o.stage} failed`);
    if (err instanceof NkitError && id) (err as NkitError & { containerId?: string }).containerId = id;
    throw err;
  }
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

// The hook's logger. A bad --log-level, or a log file that cannot be opened
// (logFile a directory, runDir a file), is a clean error, not pino's or
// fs's (found by test/fuzz).
function openHookLog(cfg: LoadedConfig, level: string | undefined): Logger {
  if (level !== undefined && !LOG_LEVELS.includes(level)) {
    throw new NkitError('EUSAGE', `unknown log level "${level}"`, { hint: `expected one of ${LOG_LEVELS.join(', ')}` });
  }
  const file = logFileOf(cfg);
  try {
    return createLogger({ file, level: level ?? cfg.logLevel });
  } catch (err) {
    throw asNkitError(err, 'ECONFIG', `open log file ${file} (config ${cfg.source})`);
  }
}

function setup(state: ReturnType<typeof parseState>, cfg: LoadedConfig, log: Logger): string {
  const bundle = readBundle(state.bundle, state.id);
  const r = setupContainer({
    id: state.id,
    ...(state.pid !== undefined ? { pid: state.pid } : {}),
    bundle,
    annotations: { ...bundle.annotations, ...(state.annotations ?? {}) },
    config: cfg,
    log,
  });
  return r.action === 'created' ? `network ready (${r.record.datapath})` : 'already set up';
}

export interface HookArgs {
  stage: string;
  configFlag?: string;
  logLevel?: string;
}

// The hook's command line without commander (the agent parses what a client
// forwards): [--config FILE] [--log-level L] STAGE, also --opt=value.
export function parseHookArgs(args: string[]): HookArgs {
  const out: Partial<HookArgs> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--(config|log-level)(?:=(.*))?$/.exec(a);
    if (m) {
      const v = m[2] ?? args[++i];
      if (v === undefined) throw new NkitError('EUSAGE', `${a} needs a value`);
      if (m[1] === 'config') out.configFlag = v;
      else out.logLevel = v;
    } else if (a.startsWith('-')) {
      throw new NkitError('EUSAGE', `unknown option ${a}`);
    } else if (out.stage === undefined) {
      out.stage = a;
    } else {
      throw new NkitError('EUSAGE', `unexpected argument ${a}`);
    }
  }
  if (!out.stage) throw new NkitError('EUSAGE', 'missing the stage argument', { hint: `expected one of ${ALL_STAGES.join(', ')}` });
  return out as HookArgs;
}
