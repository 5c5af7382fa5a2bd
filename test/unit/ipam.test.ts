// IPAM: leases are unique under concurrency from many processes, a crash
// mid-allocation leaves whole leases or none, exhaustion is a clear error,
// release only frees what the id holds.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parsePrefix } from '../../src/ipam/cidr';
import { allocate, listLeases, release } from '../../src/ipam/ipam';
import { NkitError } from '../../src/errors';

const WORKER = join(__dirname, 'ipam-worker.js');
const V4 = parsePrefix('10.213.0.0/24');
const V6 = parsePrefix('fd6e:6b69:74::/64');

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'nkt-ipam-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function worker(runDir: string, id: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [WORKER, runDir, id, '10.213.0.0/24', 'fd6e:6b69:74::/64'], { env: { ...process.env, ...env } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code, signal) => resolve({ code, signal, out }));
  });
}

t.test('first allocation: lowest free after the gateway', async (t) => {
  const runDir = tmp(t);
  const l = allocate({ runDir, network: 'default' }, 'a', [V4, V6]);
  t.same(l, [
    { family: 4, address: '10.213.0.2', prefixLen: 24, gateway: '10.213.0.1' },
    { family: 6, address: 'fd6e:6b69:74::2', prefixLen: 64, gateway: 'fd6e:6b69:74::1' },
  ]);
  t.equal(allocate({ runDir, network: 'default' }, 'b', [V4])[0]!.address, '10.213.0.3');
  t.same(release({ runDir, network: 'default' }, 'a', ['10.213.0.2', 'fd6e:6b69:74::2']), ['10.213.0.2', 'fd6e:6b69:74::2']);
  t.equal(allocate({ runDir, network: 'default' }, 'c', [V4])[0]!.address, '10.213.0.2', 'a released address is reused');
});

t.test('release frees only what the id holds, and is idempotent', async (t) => {
  const runDir = tmp(t);
  allocate({ runDir, network: 'default' }, 'a', [V4]);
  t.same(release({ runDir, network: 'default' }, 'other', ['10.213.0.2']), [], 'another id cannot release it');
  t.same([...listLeases({ runDir, network: 'default' }).entries()], [['10.213.0.2', 'a']]);
  t.same(release({ runDir, network: 'default' }, 'a', ['10.213.0.2']), ['10.213.0.2']);
  t.same(release({ runDir, network: 'default' }, 'a', ['10.213.0.2']), [], 'second release: nothing to do');
  t.same(release({ runDir: join(runDir, 'nope'), network: 'default' }, 'a', ['10.213.0.2']), [], 'no ipam dir at all');
});

t.test('exhaustion is a clear error and rolls back the other family', async (t) => {
  const runDir = tmp(t);
  const small = parsePrefix('10.9.0.0/30');
  allocate({ runDir, network: 'default' }, 'a', [small, V6]);
  let err: unknown;
  try {
    allocate({ runDir, network: 'default' }, 'b', [V6, small]);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof NkitError && err.code === 'EIPAM', 'EIPAM error');
  t.match((err as Error).message, /no free IPv4 address in 10\.9\.0\.0\/30 for container b/);
  t.same([...listLeases({ runDir, network: 'default' }).values()], ['a', 'a'], 'b\'s IPv6 lease was released');
});

t.test('20 processes allocating at once never collide', async (t) => {
  const runDir = tmp(t);
  const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
  const results = await Promise.all(ids.map((id) => worker(runDir, id)));
  t.ok(results.every((r) => r.code === 0), 'all succeeded');
  const leases = results.map((r) => JSON.parse(r.out) as Array<{ address: string }>);
  const v4 = leases.map((l) => l[0]!.address);
  const v6 = leases.map((l) => l[1]!.address);
  t.equal(new Set(v4).size, 20, 'IPv4 addresses unique');
  t.equal(new Set(v6).size, 20, 'IPv6 addresses unique');
  const expected = Array.from({ length: 20 }, (_, i) => `10.213.0.${i + 2}`).sort();
  t.same([...v4].sort(), expected, 'dense: .2 to .21');
  const onDisk = listLeases({ runDir, network: 'default' });
  t.equal(onDisk.size, 40, '40 lease files');
  for (const [i, l] of leases.entries()) t.equal(onDisk.get(l[0]!.address), ids[i], `lease file names ${ids[i]}`);
});

t.test('a crash mid-allocation leaves whole leases, and nothing is lost or doubled', async (t) => {
  const runDir = tmp(t);
  allocate({ runDir, network: 'default' }, 'before', [V4, V6]);
  const killed = await worker(runDir, 'victim', { NKIT_FAULT: 'ipam-after-lease' });
  t.equal(killed.signal, 'SIGKILL', 'the worker died half-way (after its first lease)');
  const dir = join(runDir, 'ipam', 'default');
  for (const name of readdirSync(dir).filter((n) => !n.startsWith('.'))) {
    t.match(readFileSync(join(dir, name), 'utf8'), /^\S+\n$/, `${name} is a complete lease`);
  }
  const leases = listLeases({ runDir, network: 'default' });
  t.equal(leases.get('10.213.0.2'), 'before', 'the earlier lease is intact');
  t.equal(leases.get('10.213.0.3'), 'victim', 'the victim\'s whole first lease exists (gc reclaims it)');
  const after = allocate({ runDir, network: 'default' }, 'after', [V4, V6]);
  t.equal(after[0]!.address, '10.213.0.4', 'the next allocation skips it: no address given twice');
  t.notOk(readdirSync(dir).some((n) => n.startsWith('.tmp-')), 'temporaries of the dead writer were removed');
  t.ok(existsSync(join(dir, '.lock')), 'the lock file stays (flock died with the process)');
});
