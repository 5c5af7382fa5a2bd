// Boots one VM under qemu and runs one command in it: the host side of
// test/vm/init.sh. The host's / is shared read-only over 9p; the command's
// stdout, stderr and exit status come back over virtio-serial ports that qemu
// connects to unix sockets we listen on (a stdio chardev with stdin closed
// blocks guest writes; sockets do not, and apply backpressure instead).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Writable } from 'node:stream';
import { Kernel, VmError } from './kernels';

export type Accel = 'kvm' | 'tcg';
export type TcgThread = 'single' | 'multi';

export interface VmOptions {
  kernel: Kernel;
  initramfs: string;
  /** The command and its arguments, run as root in the guest. */
  argv: string[];
  /** Working directory in the guest (the host's paths are the guest's). */
  cwd: string;
  /** Extra environment for the command, on top of PATH, HOME and friends. */
  env?: Record<string, string>;
  cpus: number;
  memMiB: number;
  /** 0 or 1: no NUMA topology; N > 1: N nodes sharing CPUs and memory. */
  numaNodes?: number;
  accel: Accel;
  timeoutMs: number;
  qemu: string;
  stdout: Writable;
  stderr: Writable;
  /** Receives the guest's serial console (kernel log) as it comes. */
  console?: Writable;
  /** TCG threading: one host thread for all vCPUs (single, the default) or
   * one per vCPU (multi: faster for parallel guest work, but the guest kernel
   * then sometimes oopses on an int3 left by cross-CPU code patching). */
  tcgThread?: TcgThread;
  /** Firmware; default qboot when installed (see QBOOT), else SeaBIOS. */
  bios?: string;
  /** qemu's -machine (default q35). */
  machine?: string;
  /** Extra qemu arguments (debugging). */
  qemuArgs?: string[];
  /** qemu's -cpu model; default host under KVM, max under TCG. */
  cpu?: string;
  /** Extra kernel command line words (e.g. for debugging). */
  append?: string[];
  signal?: AbortSignal;
  /** Called once the guest's init reports the kernel it runs. */
  onBoot?: (release: string, bootMs: number) => void;
}

export interface VmResult {
  /** The command's exit code; null when the guest never reported one. */
  code: number | null;
  /** uname -r as reported by the guest. */
  release?: string;
  /** From qemu's start to the guest's init reporting in. */
  bootMs?: number;
  totalMs: number;
  timedOut: boolean;
  aborted: boolean;
  /** An error the guest's init reported (e.g. a failed mount). */
  guestError?: string;
  /** How qemu ended. */
  qemuExit: { code: number | null; signal: NodeJS.Signals | null };
  /** qemu's own stderr (its errors). */
  qemuStderr: string;
  /** The last 64 KiB of the guest's serial console. */
  consoleTail: string;
}

// qboot (from qemu-system-data) only loads the kernel given with -kernel:
// ~0.4 s less than SeaBIOS per boot under TCG.
export const QBOOT = '/usr/share/qemu/qboot.rom';

export const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// The shell script the guest's init runs: cd, then exec with a clean env.
// Through the host's /usr/bin/env by absolute path: busybox-static prefers its
// own applets, so a busybox env or sh would run busybox's ip, not iproute2's.
export function jobScript(argv: string[], cwd: string, env: Record<string, string> = {}): string {
  if (argv.length === 0) throw new VmError('no command given to run in the VM');
  const base: Record<string, string> = {
    PATH: GUEST_PATH, HOME: '/root', USER: 'root', LOGNAME: 'root', TERM: 'dumb', LANG: 'C.UTF-8',
  };
  const vars = Object.entries({ ...base, ...env }).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new VmError(`bad environment variable name '${k}'`);
    return shq(`${k}=${v}`);
  });
  return [
    `cd -- ${shq(cwd)} || { echo ${shq(`vm-run: cannot cd to ${cwd} in the guest`)} >&2; exit 125; }`,
    `exec /usr/bin/env -i -- ${vars.join(' ')} ${argv.map(shq).join(' ')}`,
    '',
  ].join('\n');
}

// qemu arguments for N NUMA nodes: memory split evenly, CPUs in contiguous
// blocks, the first nodes taking one more; with fewer CPUs than nodes the
// last nodes get none (memory-only nodes, as with CXL memory).
export function numaArgs(nodes: number, cpus: number, memMiB: number): string[] {
  if (nodes <= 1) return [];
  const args: string[] = [];
  const per = Math.floor(memMiB / nodes);
  let next = 0;
  for (let i = 0; i < nodes; i++) {
    const size = i === nodes - 1 ? memMiB - per * (nodes - 1) : per;
    const count = Math.floor(cpus / nodes) + (i < cpus % nodes ? 1 : 0);
    const cpuSpec = count === 0 ? '' : `,cpus=${next}${count > 1 ? `-${next + count - 1}` : ''}`;
    next += count;
    args.push('-object', `memory-backend-ram,id=mem${i},size=${size}M`);
    args.push('-numa', `node,nodeid=${i}${cpuSpec},memdev=mem${i}`);
  }
  return args;
}

export interface QemuPaths {
  jobDir: string;
  sockets: { stdout: string; stderr: string; status: string; console: string };
}

// The full qemu command line (without the binary).
export function qemuArgs(o: VmOptions, p: QemuPaths): string[] {
  const append = [
    'console=ttyS0', 'quiet', 'loglevel=4', 'panic=-1', 'oops=panic',
    // Under TCG the TSC looks unstable and the kernel would fall back to a
    // slow clocksource after a watchdog delay.
    'tsc=reliable', 'no_timer_check', 'mitigations=off', 'random.trust_cpu=on',
    'rdinit=/init', `nkit.job=${p.jobDir}`, ...(o.append ?? []),
  ];
  const args = [
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-machine', o.machine ?? 'q35',
    ...(o.bios ? ['-bios', o.bios] : []),
    ...(o.accel === 'kvm' ? ['-accel', 'kvm'] : ['-accel', `tcg,thread=${o.tcgThread ?? 'single'}`]),
    '-cpu', o.cpu ?? (o.accel === 'kvm' ? 'host' : 'max'),
    '-smp', String(o.cpus), '-m', `${o.memMiB}M`,
    ...numaArgs(o.numaNodes ?? 0, o.cpus, o.memMiB),
    '-kernel', o.kernel.vmlinuz, '-initrd', o.initramfs, '-append', append.join(' '),
    '-chardev', `socket,id=con,path=${p.sockets.console}`, '-serial', 'chardev:con',
    '-device', 'virtio-serial-pci,id=vser',
  ];
  for (const name of ['stdout', 'stderr', 'status'] as const) {
    args.push('-chardev', `socket,id=${name},path=${p.sockets[name]}`,
      '-device', `virtserialport,bus=vser.0,chardev=${name},name=nkit.${name}`);
  }
  args.push(
    // multidevs=remap: the host's / spans many file systems (/proc, /sys,
    // tmpfs...); without it their inode numbers collide in the guest and, for
    // one, a proc mount lands on /sys.
    '-fsdev', 'local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap',
    '-device', 'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-device', 'virtio-rng-pci',
    ...(o.qemuArgs ?? []),
  );
  return args;
}

// qemu-system-x86_64 from PATH, or a VmError naming the package.
export function findQemu(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NKIT_VM_QEMU) {
    if (existsSync(env.NKIT_VM_QEMU)) return env.NKIT_VM_QEMU;
    throw new VmError(`NKIT_VM_QEMU=${env.NKIT_VM_QEMU} does not exist`);
  }
  for (const dir of (env.PATH ?? '/usr/bin').split(delimiter)) {
    const p = join(dir, 'qemu-system-x86_64');
    if (dir && existsSync(p)) return p;
  }
  throw new VmError('qemu-system-x86_64 not found',
    'apt-get install --no-install-recommends qemu-system-x86 (all host packages: test/vm/host-packages.txt)');
}

// One listening socket that takes qemu's single connection.
function listen(path: string, onData: (chunk: Buffer) => void): Promise<{ server: Server; ended: Promise<void> }> {
  return new Promise((resolveListen, reject) => {
    let endedResolve!: () => void;
    const ended = new Promise<void>((r) => { endedResolve = r; });
    const server = createServer({ pauseOnConnect: false }, (sock: Socket) => {
      server.close();
      sock.on('data', onData);
      sock.on('error', () => endedResolve());
      sock.on('close', () => endedResolve());
    });
    server.once('error', reject);
    server.listen(path, () => resolveListen({ server, ended }));
  });
}

const CONSOLE_TAIL = 64 * 1024;

// Job directories of runs that were SIGKILLed (their qemu died with them,
// through pdeathsig, but nothing could remove the directory).
function sweepStaleJobDirs(tmp: string): void {
  let names: string[];
  try { names = readdirSync(tmp).filter((n) => n.startsWith('nkit-vm-')); } catch { return; }
  for (const n of names) {
    const dir = join(tmp, n);
    try {
      const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      if (!Number.isInteger(pid) || pid <= 0) continue;
      try { process.kill(pid, 0); continue; } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
      }
      rmSync(dir, { recursive: true, force: true });
    } catch { /* not ours or already gone */ }
  }
}

// Boots the VM, runs the command, streams its output; never leaves qemu
// running or the job directory behind, whatever ends the run.
export async function runVm(o: VmOptions): Promise<VmResult> {
  const started = Date.now();
  const tmp = /\s/.test(tmpdir()) ? '/tmp' : tmpdir();
  sweepStaleJobDirs(tmp);
  const jobDir = mkdtempSync(join(tmp, 'nkit-vm-'));
  const sockets = {
    stdout: join(jobDir, 'stdout.sock'), stderr: join(jobDir, 'stderr.sock'),
    status: join(jobDir, 'status.sock'), console: join(jobDir, 'console.sock'),
  };
  const servers: Server[] = [];
  let child: ReturnType<typeof spawn> | undefined;
  try {
    writeFileSync(join(jobDir, 'pid'), `${process.pid}\n`);
    writeFileSync(join(jobDir, 'job.sh'), jobScript(o.argv, o.cwd, o.env));
    // The guest mounts its own tmpfs on /tmp: a working directory under the
    // host's /tmp (a CI checkout) is carried over it (see init.sh).
    const keep = o.cwd === '/tmp' || o.cwd.startsWith('/tmp/') ? o.cwd : '';
    writeFileSync(join(jobDir, 'boot.conf'), `NKIT_MODULES=${shq(o.kernel.modules)}\nNKIT_KEEP=${shq(keep)}\n`);

    let consoleTail = '';
    let status = '';
    let release: string | undefined;
    let bootMs: number | undefined;
    let code: number | null = null;
    let guestError: string | undefined;
    const onStatus = (chunk: Buffer): void => {
      status += chunk.toString();
      let nl: number;
      while ((nl = status.indexOf('\n')) >= 0) {
        const line = status.slice(0, nl);
        status = status.slice(nl + 1);
        const [word, ...rest] = line.split(' ');
        const arg = rest.join(' ');
        if (word === 'kernel') {
          release = arg;
          bootMs = Date.now() - started;
          o.onBoot?.(arg, bootMs);
        } else if (word === 'exit' && /^\d+$/.test(arg)) {
          code = Number(arg);
        } else if (word === 'error') {
          guestError = arg;
        }
      }
    };
    const ends: Promise<void>[] = [];
    const handlers: [string, (c: Buffer) => void][] = [
      [sockets.stdout, (c) => o.stdout.write(c)],
      [sockets.stderr, (c) => o.stderr.write(c)],
      [sockets.status, onStatus],
      [sockets.console, (c) => {
        o.console?.write(c);
        consoleTail = (consoleTail + c.toString('latin1')).slice(-CONSOLE_TAIL);
      }],
    ];
    for (const [path, onData] of handlers) {
      const { server, ended } = await listen(path, onData);
      servers.push(server);
      ends.push(ended);
    }

    // setpriv --pdeathsig: qemu dies with us even if we are SIGKILLed.
    const argv = qemuArgs(o, { jobDir, sockets });
    const [cmd, args] = existsSync('/usr/bin/setpriv')
      ? ['/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', o.qemu, ...argv]]
      : [o.qemu, argv];
    let qemuStderr = '';
    let timedOut = false;
    let aborted = false;
    // detached: its own process group, so a terminal's Ctrl-C reaches only
    // us and we stop qemu in order (and still report).
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child = proc;
    proc.stdout?.on('data', (c: Buffer) => { qemuStderr += c.toString(); });
    proc.stderr?.on('data', (c: Buffer) => { qemuStderr += c.toString(); });
    const exited = new Promise<VmResult['qemuExit']>((resolveExit) => {
      proc.on('error', (err) => { qemuStderr += `${err.message}\n`; resolveExit({ code: null, signal: null }); });
      proc.on('exit', (c, s) => resolveExit({ code: c, signal: s }));
    });
    const timer = setTimeout(() => { timedOut = true; proc.kill('SIGKILL'); }, o.timeoutMs);
    const onAbort = (): void => { aborted = true; proc.kill('SIGKILL'); };
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener('abort', onAbort);

    const qemuExit = await exited;
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    child = undefined;
    // qemu's exit closes its ends; what the guest wrote before is still in
    // the socket buffers, so drain them (bounded: a port never connected).
    let drainTimer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(ends), new Promise((r) => { drainTimer = setTimeout(r, 2000); })]);
    clearTimeout(drainTimer);

    const result: VmResult = {
      code, totalMs: Date.now() - started, timedOut, aborted, qemuExit, qemuStderr, consoleTail,
    };
    if (release !== undefined) result.release = release;
    if (bootMs !== undefined) result.bootMs = bootMs;
    if (guestError !== undefined) result.guestError = guestError;
    return result;
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    for (const s of servers) s.close();
    rmSync(jobDir, { recursive: true, force: true });
  }
}
