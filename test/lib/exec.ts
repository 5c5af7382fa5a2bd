// Run external commands for tests: bounded in time, killed as a whole process group.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Options for run(): stdin text, environment, working directory and a time bound. */
export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the whole process group after this long (default 30 s). */
  timeoutMs?: number;
  /** After a kill, how long to wait for stdout/stderr to close (default 2 s). */
  killGraceMs?: number;
}

/** What a finished (or killed) command left behind. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

/** A command that could not be started, exited non-zero, or timed out. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly result?: RunResult,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CommandError';
  }
}

/** Send a signal to a process group, treating "already gone" as success. */
export function killGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Run argv[0] with argv[1..] in its own process group (detached, so its pgid is its
 * pid); on timeout SIGKILL the group. Descendants that left the group (containers)
 * can keep stdout open: after killGraceMs we stop waiting for them.
 */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new CommandError('empty command line', argv));
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const graceMs = opts.killGraceMs ?? 2_000;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } = { code: null, signal: null };
    let graceTimer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      resolve({
        ...exit,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        durationMs: Date.now() - started,
      });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid);
      graceTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, graceMs);
    }, timeoutMs);
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('exit', (code, signal) => {
      exit = { code, signal };
    });
    child.on('close', finish);
    child.on('error', (e) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      reject(new CommandError(`failed to start ${cmd}: ${e.message}`, argv, undefined, { cause: e }));
    });
    // A child may exit before reading its input (a refused connection):
    // EPIPE on its stdin is its business, not an uncaught error here.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Run a command and require exit code 0; the error names the command and its stderr. */
export async function runOk(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0 || r.timedOut) {
    const why = r.timedOut ? `timed out after ${r.durationMs} ms` : `exited ${r.code ?? r.signal}`;
    throw new CommandError(`${argv.join(' ')} ${why}: ${r.stderr.trim()}`, argv, r);
  }
  return r;
}

/** Absolute path of an executable found on PATH (plus the sbin dirs), or undefined. */
export function findExecutable(name: string): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  for (const dir of dirs) {
    if (dir === '') continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}
