// Runs the netkit suite (test/netkit, compiled to dist/test/netkit) inside
// the VM on each kernel, where netkit exists: NKIT_REQUIRE_NETKIT=1 turns a
// missing netkit into a failure, not a skip. The guest's TAP output goes to
// stderr (so this file's own TAP stays readable) and to a log file.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cacheDir, KERNEL_NAMES, repoRoot } from './kernels';
import { findQemu } from './qemu';

const VM_RUN = join(__dirname, 'vm-run.js');

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (qemu, netkit inside the VM)';
  try {
    findQemu();
  } catch (e) {
    return `${(e as Error).message}: apt-get install --no-install-recommends qemu-system-x86`;
  }
  for (const k of KERNEL_NAMES) if (!existsSync(join(cacheDir(), k, 'VERSION'))) return `the ${k} kernel is not fetched: run test/vm/fetch-kernels`;
  return false;
}

function guestSuite(kernel: string, log: string): Promise<{ code: number | null; out: string; ms: number }> {
  const suite = readdirSync(join(repoRoot(), 'dist', 'test', 'netkit')).filter((f) => f.endsWith('.test.js')).map((f) => join('dist', 'test', 'netkit', f));
  // Two NUMA nodes (one CPU each): the NUMA test sees a real multi-node topology.
  const argv = [VM_RUN, '--kernel', kernel, '--timeout', '1500', '--numa', '2', '--env', 'NKIT_REQUIRE_NETKIT=1', '--',
    'node_modules/.bin/tap', '--reporter=tap', '--timeout', '1400', '--jobs', '1', ...suite];
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const file = createWriteStream(log);
    const child = spawn(process.execPath, argv, { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let lineStart = true;
    const relay = (c: Buffer) => {
      const text = c.toString();
      out += text;
      file.write(c);
      // Prefix whole lines only: chunks split lines anywhere.
      const prefixed = text.replace(/\n(?=.)/g, `\n[${kernel}] `);
      process.stderr.write(`${lineStart ? `[${kernel}] ` : ''}${prefixed}`);
      lineStart = text.endsWith('\n');
    };
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    child.on('error', reject);
    child.on('close', (code) => {
      file.end();
      resolve({ code, out, ms: Date.now() - started });
    });
  });
}

t.test('the netkit suite in the VM', { skip: skipReason() }, async (t) => {
  const logs = join(cacheDir(), 'logs');
  mkdirSync(logs, { recursive: true });
  // Each TCG guest runs on one host thread: the two kernels side by side
  // use both cores and halve the wall time.
  const runs = KERNEL_NAMES.map((kernel) => ({ kernel, log: join(logs, `netkit-${kernel}.log`) })).map((k) => ({ ...k, done: guestSuite(k.kernel, k.log) }));
  for (const { kernel, log, done } of runs) {
    t.test(`kernel ${kernel}`, async (t) => {
      const r = await done;
      const version = /booting \S+ (\S+)/.exec(r.out)?.[1] ?? '?';
      t.comment(`${kernel} (${version}): ${Math.round(r.ms / 1000)} s, log ${log}`);
      t.equal(r.code, 0, `the netkit suite passed on ${kernel} ${version}`);
      t.match(r.out, /# \{ total: \d+, pass: \d+ \}/, 'tap finished with every assertion passing');
      t.notMatch(r.out, /# SKIP|# skip/i, 'nothing was skipped');
    });
  }
});
