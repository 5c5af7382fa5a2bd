// vm-run: boot one of Debian's netkit kernels under qemu with the host's root
// shared read-only, run a command in it as root, stream its output and exit
// with its exit code. See test/vm/README.md.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { chooseAccel, AccelChoice } from './accel';
import { ensureInitramfs } from './initramfs';
import { cacheDir, findKernel, Kernel, KERNEL_NAMES, KernelName, VmError } from './kernels';
import { findQemu, QBOOT, runVm, TcgThread, VmOptions, VmResult } from './qemu';

export const EXIT_TIMEOUT = 124;
export const EXIT_HARNESS = 125;

export interface RunArgs {
  kernel: KernelName;
  timeoutS: number;
  numa: number;
  cpus: number;
  memMiB: number;
  cwd: string;
  env: Record<string, string>;
  accel: AccelChoice;
  tcgThread: TcgThread;
  verbose: boolean;
  quiet: boolean;
  argv: string[];
}

const USAGE = `usage: test/vm/vm-run [options] -- CMD [ARGS...]
  --kernel trixie|sid   kernel to boot (default trixie; env NKIT_VM_KERNEL)
  --timeout SECONDS     hard bound for the whole boot (default 600; env NKIT_VM_TIMEOUT)
  --cpus N              guest CPUs (default: all host CPUs)
  --mem SIZE            guest memory, e.g. 3G or 2048M (default 3G; env NKIT_VM_MEM)
  --numa NODES          NUMA nodes sharing the CPUs and memory (default none)
  --cwd DIR             working directory in the guest (default: the current one)
  --env NAME[=VALUE]    pass a variable to CMD (repeatable; no value: the host's)
  --accel auto|kvm|tcg  accelerator (default auto: KVM only if a probe boot works;
                        env NKIT_VM_ACCEL)
  --tcg-thread single|multi
                        TCG with one host thread for all vCPUs (default: reliable)
                        or one per vCPU (faster for parallel guest work, but the
                        guest kernel sometimes oopses; env NKIT_VM_TCG_THREAD)
  --verbose             stream the guest's kernel console to stderr
  --quiet               no vm-run: lines on stderr (errors still)
Exit status: CMD's; ${EXIT_TIMEOUT} on timeout; ${EXIT_HARNESS} when the VM failed.`;

// Sizes as qemu takes them: 3G, 2048M, 2048 (MiB).
export function parseMem(s: string): number {
  const m = /^(\d+)([MmGg]?)$/.exec(s);
  if (!m) throw new VmError(`bad --mem '${s}' (use e.g. 3G or 2048M)`);
  const n = Number(m[1]) * (m[2] && m[2].toLowerCase() === 'g' ? 1024 : 1);
  if (n < 256) throw new VmError(`--mem ${s} is too small (at least 256M)`);
  return n;
}

function parseCount(flag: string, s: string, min: number): number {
  if (!/^\d+$/.test(s) || Number(s) < min) throw new VmError(`bad ${flag} '${s}' (a whole number >= ${min})`);
  return Number(s);
}

// Parses vm-run's command line; pure apart from the defaults it reads.
export function parseArgs(args: string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): RunArgs {
  const out: RunArgs = {
    kernel: (env.NKIT_VM_KERNEL as KernelName) || 'trixie',
    timeoutS: env.NKIT_VM_TIMEOUT ? parseCount('NKIT_VM_TIMEOUT', env.NKIT_VM_TIMEOUT, 1) : 600,
    numa: 0,
    cpus: availableParallelism(),
    memMiB: parseMem(env.NKIT_VM_MEM || '3G'),
    cwd,
    env: {},
    accel: (env.NKIT_VM_ACCEL as AccelChoice) || 'auto',
    tcgThread: (env.NKIT_VM_TCG_THREAD as TcgThread) || 'single',
    verbose: false,
    quiet: false,
    argv: [],
  };
  let i = 0;
  const value = (flag: string): string => {
    const v = args[++i];
    if (v === undefined) throw new VmError(`${flag} needs a value`);
    return v;
  };
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') { out.argv = args.slice(i + 1); break; }
    switch (a) {
      case '--kernel': out.kernel = value(a) as KernelName; break;
      case '--timeout': out.timeoutS = parseCount(a, value(a), 1); break;
      case '--numa': out.numa = parseCount(a, value(a), 1); break;
      case '--cpus': out.cpus = parseCount(a, value(a), 1); break;
      case '--mem': out.memMiB = parseMem(value(a)); break;
      case '--cwd': out.cwd = resolve(cwd, value(a)); break;
      case '--env': {
        const v = value(a);
        const eq = v.indexOf('=');
        if (eq > 0) out.env[v.slice(0, eq)] = v.slice(eq + 1);
        else if (env[v] !== undefined) out.env[v] = env[v]!;
        break;
      }
      case '--accel': out.accel = value(a) as AccelChoice; break;
      case '--tcg-thread': out.tcgThread = value(a) as TcgThread; break;
      case '--verbose': out.verbose = true; break;
      case '--quiet': out.quiet = true; break;
      case '-h': case '--help': throw new VmError(USAGE);
      default:
        if (a.startsWith('-')) throw new VmError(`unknown option ${a}`, USAGE);
        out.argv = args.slice(i);
        i = args.length;
    }
  }
  if (!(KERNEL_NAMES as readonly string[]).includes(out.kernel)) {
    throw new VmError(`unknown kernel '${out.kernel}' (trixie or sid)`);
  }
  if (!['auto', 'kvm', 'tcg'].includes(out.accel)) throw new VmError(`bad accel '${out.accel}' (auto, kvm or tcg)`);
  if (!['single', 'multi'].includes(out.tcgThread)) {
    throw new VmError(`bad tcg thread mode '${out.tcgThread}' (single or multi)`);
  }
  if (out.argv.length === 0) throw new VmError('no command given', USAGE);
  return out;
}

// A boot of the same kernel under KVM that must come back within seconds.
async function probeKvm(base: Omit<VmOptions, 'accel' | 'argv'>): Promise<{ ok: boolean; detail: string }> {
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  const r = await runVm({
    ...base, accel: 'kvm', argv: ['true'], cpus: 1, memMiB: 512, numaNodes: 0, timeoutMs: 20_000,
    stdout: sink as never, stderr: sink as never,
  });
  if (r.code === 0) return { ok: true, detail: `booted in ${r.bootMs} ms` };
  const qemuSaid = r.qemuStderr.trim().split('\n')[0]?.replace(/^qemu-system-\S+: (error: )?/, '');
  return { ok: false, detail: r.timedOut ? 'no answer in 20 s' : qemuSaid || 'the guest did not finish' };
}

export interface RunOutcome { exitCode: number; result?: VmResult }

// Everything vm-run does, minus process handling; also usable from tests.
export async function vmRun(a: RunArgs, signal?: AbortSignal): Promise<RunOutcome> {
  const info = (s: string): void => { if (!a.quiet) process.stderr.write(`vm-run: ${s}\n`); };
  const cache = cacheDir();
  const qemu = findQemu();
  const kernel: Kernel = findKernel(a.kernel, cache);
  const initramfs = ensureInitramfs(kernel);
  const bios = process.env.NKIT_VM_BIOS ?? (existsSync(QBOOT) ? QBOOT : undefined);
  const base = {
    kernel, initramfs, cwd: a.cwd, env: a.env, cpus: a.cpus, memMiB: a.memMiB, numaNodes: a.numa,
    tcgThread: a.tcgThread,
    ...(bios ? { bios } : {}),
    timeoutMs: a.timeoutS * 1000, qemu, stdout: process.stdout, stderr: process.stderr,
    ...(signal ? { signal } : {}),
    ...(process.env.NKIT_VM_CPU ? { cpu: process.env.NKIT_VM_CPU } : {}),
    ...(process.env.NKIT_VM_MACHINE ? { machine: process.env.NKIT_VM_MACHINE } : {}),
    ...(process.env.NKIT_VM_QEMU_ARGS ? { qemuArgs: process.env.NKIT_VM_QEMU_ARGS.split(/\s+/) } : {}),
  };
  const { accel, why } = await chooseAccel(a.accel, cache, qemu, () => probeKvm(base));
  const accelText = accel === 'tcg' ? `tcg ${a.tcgThread}-threaded` : accel;
  info(`booting ${kernel.name} ${kernel.release}: ${accelText} (${why}), ${a.cpus} cpus, ${a.memMiB}M` +
    `${a.numa > 1 ? `, ${a.numa} NUMA nodes` : ''}`);
  let r: VmResult;
  for (let attempt = 1; ; attempt++) {
    r = await runVm({
      ...base, accel, argv: a.argv,
      ...(process.env.NKIT_VM_APPEND ? { append: process.env.NKIT_VM_APPEND.split(/\s+/) } : {}),
      ...(a.verbose ? { console: process.stderr } : {}),
      onBoot: (release, ms) => info(`guest kernel ${release} up after ${(ms / 1000).toFixed(1)} s`),
    });
    // A guest kernel that crashed before the command started (multi-threaded
    // TCG's cross-CPU code patching races) is retried once: the command never
    // ran, so running it now is no repeat.
    const crash = bootCrash(r);
    if (!crash || attempt > 1) break;
    info(`guest kernel crashed while booting (${crash}); booting again`);
  }
  const total = `${(r.totalMs / 1000).toFixed(1)} s`;
  if (r.aborted) {
    info(`interrupted after ${total}; qemu killed`);
    return { exitCode: EXIT_HARNESS, result: r };
  }
  if (r.timedOut) {
    process.stderr.write(`vm-run: timed out after ${a.timeoutS} s (--timeout); qemu killed` +
      `${r.release ? '' : ' before the guest came up'}\n`);
    if (!r.release) process.stderr.write(consoleHint(r));
    return { exitCode: EXIT_TIMEOUT, result: r };
  }
  if (r.code === null) {
    const crash = bootCrash(r);
    const why2 = r.guestError ? `the guest's init failed: ${r.guestError}`
      : crash ? `the guest kernel crashed while booting: ${crash}`
      : r.qemuExit.signal ? `qemu died of ${r.qemuExit.signal}`
      : r.qemuExit.code ? `qemu exited with ${r.qemuExit.code}` : 'the guest ended without an exit status';
    process.stderr.write(`vm-run: ${why2}\n`);
    if (r.qemuStderr.trim()) process.stderr.write(`vm-run: qemu said: ${r.qemuStderr.trim()}\n`);
    process.stderr.write(consoleHint(r));
    return { exitCode: EXIT_HARNESS, result: r };
  }
  if (a.verbose && r.qemuStderr.trim()) info(`qemu said: ${r.qemuStderr.trim()}`);
  info(`exit ${r.code} after ${total}`);
  return { exitCode: r.code, result: r };
}

// The first oops/panic line of a boot that never reached the command.
export function bootCrash(r: VmResult): string | undefined {
  if (r.release !== undefined || r.code !== null || r.timedOut || r.aborted || r.guestError) return undefined;
  const line = r.consoleTail.split('\n').find((l) => /Oops|Kernel panic|BUG:|general protection/.test(l));
  return line?.replace(/^\[[\s\d.]+\]\s*/, '').trim();
}

function consoleHint(r: VmResult): string {
  const tail = r.consoleTail.split('\n').slice(-40).join('\n').trim();
  return tail ? `vm-run: last lines of the guest console:\n${tail}\n` : '';
}

// The executable: exit code as documented in USAGE.
export async function main(args: string[]): Promise<number> {
  const ctl = new AbortController();
  let signalled = 0;
  const onSignal = (sig: NodeJS.Signals, no: number) => (): void => {
    if (!signalled) process.stderr.write(`vm-run: ${sig}, stopping the VM\n`);
    signalled = no;
    ctl.abort();
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ['SIGINT', onSignal('SIGINT', 2)], ['SIGTERM', onSignal('SIGTERM', 15)], ['SIGHUP', onSignal('SIGHUP', 1)],
  ];
  for (const [s, h] of handlers) process.on(s, h);
  // A reader that went away (vm-run ... | head) must not kill us before qemu
  // is stopped and the job directory removed.
  const ignore = (): void => {};
  process.stdout.on('error', ignore);
  process.stderr.on('error', ignore);
  try {
    const parsed = parseArgs(args);
    const { exitCode } = await vmRun(parsed, ctl.signal);
    return signalled ? 128 + signalled : exitCode;
  } catch (err) {
    if (err instanceof VmError) {
      process.stderr.write(`vm-run: ${err.message}\n${err.hint ? `vm-run: ${err.hint}\n` : ''}`);
      return err.message.startsWith('usage:') ? 0 : 2;
    }
    process.stderr.write(`vm-run: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT_HARNESS;
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
