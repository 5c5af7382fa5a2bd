// Self-test of the VM harness (needs root, qemu and the fetched kernels):
// exit codes come back, output streams while the guest runs, and each
// kernel can create a netkit pair.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, KERNEL_NAMES, repoRoot } from './kernels';
import { findQemu } from './qemu';

const VM_RUN = join(__dirname, 'vm-run.js');

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (qemu, netkit inside the VM)';
  try { findQemu(); } catch (e) { return `${(e as Error).message}: apt-get install --no-install-recommends qemu-system-x86`; }
  for (const k of KERNEL_NAMES) {
    if (!existsSync(join(cacheDir(), k, 'VERSION'))) {
      return `the ${k} kernel is not fetched: run test/vm/fetch-kernels`;
    }
  }
  return false;
}

interface Run { code: number | null; stdout: string; stderr: string; firstStdoutMs?: number; totalMs: number }

function vmRun(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [VM_RUN, '--timeout', '120', ...args],
      { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { code: null, stdout: '', stderr: '', totalMs: 0 };
    child.stdout.on('data', (c: Buffer) => {
      run.firstStdoutMs ??= Date.now() - started;
      run.stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => { run.stderr += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      run.code = code;
      run.totalMs = Date.now() - started;
      resolve(run);
    });
  });
}

const NETKIT = 'ip link add nk0 type netkit mode l3 forward peer blackhole name nk1 && ip -d link show nk0';

t.test('vm-run in a netkit VM', { skip: skipReason() }, async (t) => {
  t.test('trixie: exit code, streaming, netkit', async (t) => {
    // The sleep separates the first output from the end of the run: if it is
    // streamed, the host sees it well before vm-run exits.
    const r = await vmRun(['--kernel', 'trixie', '--',
      'sh', '-c', `uname -r; ${NETKIT}; echo to-stderr >&2; sleep 2; exit 3`]);
    t.equal(r.code, 3, 'exit code of the command', { stderr: r.stderr });
    t.match(r.stdout, /^6\.12\./, 'uname -r printed first');
    t.match(r.stdout, /netkit mode l3 type primary policy forward peer policy blackhole/, 'netkit pair created');
    t.match(r.stderr, /to-stderr/, 'stderr comes back apart from stdout');
    t.notMatch(r.stdout, /to-stderr/);
    t.match(r.stderr, /vm-run: guest kernel 6\.12\.\S+ up after/, 'vm-run says which kernel ran');
    t.ok(r.firstStdoutMs !== undefined && r.totalMs - r.firstStdoutMs >= 1500,
      `output streamed (first at ${r.firstStdoutMs} ms of ${r.totalMs} ms)`);
  });

  t.test('sid: boots and creates netkit', async (t) => {
    const r = await vmRun(['--kernel', 'sid', '--', 'sh', '-c', `uname -r; ${NETKIT}`]);
    t.equal(r.code, 0, 'exit code 0', { stderr: r.stderr });
    t.notMatch(r.stdout, /^6\.12\./, 'a newer kernel than trixie');
    t.match(r.stdout, /netkit mode l3/, 'netkit pair created');
  });
});
