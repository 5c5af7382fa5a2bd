// The hook under 10,000+ generated and mutated inputs (stdin, OCI states,
// bundles, configs, policy files, annotations): every case must end with a
// clean NkitError or a correct, torn-down result, within a time bound, and
// leave nothing behind. The cases run in-process in test/fuzz/runner.ts,
// started inside a test "host" netns with the e2e tests' mount wrapper.
// NKIT_FUZZ_SEED replays a run; NKIT_FUZZ_SCALE multiplies the case counts.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { run } from '../lib/exec';
import { createNetns, hostMountsArgv } from '../lib/netns';
import { leftovers, nkitEnv } from '../lib/nkit';
import { defer, tempDir } from '../lib/scope';
import { firstReason, rootSkipReason, toolsSkipReason } from '../lib/skip';
import { CONTAINERS } from './gen';
import type { RunnerHang, RunnerOptions, RunnerSummary } from './runner';

const skip = firstReason(rootSkipReason(), toolsSkipReason(['ip', 'nsenter', 'unshare']));
const RUNNER = join(__dirname, 'runner.js');
const scale = Number(process.env.NKIT_FUZZ_SCALE ?? '1') || 1;
const seed = process.env.NKIT_FUZZ_SEED ? Number(process.env.NKIT_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
// About 10,500 cases; the ones that get through validation do a real setup
// and teardown (~0.1 s each), the rest take about a millisecond.
const RUNS = { stdin: 3800, state: 3900, config: 1000, policy: 800, annotations: 1000 };
const PROPERTY_MS = 60_000;

t.setTimeout(Object.keys(RUNS).length * PROPERTY_MS * scale + 120_000);

t.test('the OCI hook survives generated and mutated input', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t);
  const netns: string[] = [];
  for (let i = 0; i < CONTAINERS; i++) netns.push((await createNetns(t, { prefix: 'nkc' })).path);
  // Bundles, configs and policy files are rewritten for every case: on
  // tmpfs when there is one (rewriting a file on ext4 costs ~0.5 ms).
  const work = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'nkt-fuzz-'));
  defer(t, `remove ${work}`, () => rm(work, { recursive: true, force: true }));
  const scratch = await tempDir(t, 'nkt-mnt-');
  const opts: RunnerOptions = {
    runDir: env.runDir,
    bpffsDir: env.bpffsDir,
    policiesDir: join(work, 'policies'),
    netns,
    work: join(work, 'w'),
    out: join(work, 'summary.json'),
    progress: join(work, 'progress.json'),
    seed,
    runs: Object.fromEntries(Object.entries(RUNS).map(([k, n]) => [k, Math.round(n * scale)])),
    caseTimeoutMs: 5_000,
    propertyTimeMs: PROPERTY_MS * scale,
  };
  const optsFile = join(work, 'options.json');
  await writeFile(optsFile, JSON.stringify(opts));
  t.comment(`seed ${seed} (NKIT_FUZZ_SEED=${seed} replays this run)`);

  const argv = hostMountsArgv([process.execPath, RUNNER, optsFile], { netns: host.name, scratchDir: scratch });
  const r = await run(argv, { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, timeoutMs: Object.keys(RUNS).length * opts.propertyTimeMs + 60_000 });
  if (r.stderr.trim()) t.comment(r.stderr.trim());
  let summary: RunnerSummary | undefined;
  try {
    const out = JSON.parse(await readFile(opts.out, 'utf8')) as RunnerSummary | RunnerHang;
    if ('hang' in out) t.fail(`a hook run hung (no progress for ${out.hang.seconds} s); the case: ${out.hang.case}`);
    else summary = out;
  } catch {
    const last = await readFile(opts.progress, 'utf8').catch(() => '(none)');
    t.fail(`the runner wrote no summary (exit ${r.code ?? r.signal}${r.timedOut ? ', timed out: a hang?' : ''}); case in progress: ${last}`);
  }
  t.equal(r.timedOut, false, 'the runner finished in time');
  t.equal(r.code, 0, 'the runner exited 0 (no property failed)');
  if (summary) {
    for (const p of summary.properties) {
      const errs = Object.entries(p.errors).map(([k, n]) => `${k} ${n}`).join(', ');
      t.notOk(p.failed, `${p.name}: ${p.runs} cases in ${(p.ms / 1000).toFixed(1)} s, ${p.setups} real setups and teardowns, errors: ${errs}`, {
        ...(p.failed ? { counterexample: p.counterexample, error: p.error, shrinks: p.shrinks, replay: `NKIT_FUZZ_SEED=${p.seed}, path ${p.path}` } : {}),
      });
    }
    t.ok(summary.totalRuns >= 10_000 * Math.min(1, scale), `${summary.totalRuns} cases in ${(summary.ms / 1000).toFixed(1)} s (slowest hook run ${summary.slowestMs} ms)`);
    // Three log files (runDir, the second runDir, logFile) at seven levels.
    t.ok(summary.findings.logFds <= 21, `log files stay open once per file and level, not per hook run (${summary.findings.logFds} open)`);
    t.equal(summary.findings.multiLineErrors, 0, 'every failure is one stderr line', {
      ...(summary.findings.multiLineExample ? { example: summary.findings.multiLineExample } : {}),
    });
    for (const [name, k] of Object.entries(summary.findings.knownBugs)) {
      t.equal(k.count, 0, `known bug ${name}`, { todo: k.what, example: k.example });
    }
  }
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] }, 'nothing left: no device, route, lease, pin or record');
});
