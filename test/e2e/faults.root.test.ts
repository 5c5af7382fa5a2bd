// Faults with real runc: the hook is SIGKILLed (NKIT_FAULT) after each step
// of setup. The runtime reports a clear error, `nkit gc` returns the host to
// exactly its state before (devices, routes, leases, pins, records,
// forwarding), and a retry with the same container id succeeds.
import t from 'tap';
import { createBundle } from '../lib/bundle';
import { run, runOk } from '../lib/exec';
import { createNetns } from '../lib/netns';
import { CLI, leftovers, nkitEnv } from '../lib/nkit';
import { runtimeRun, runtimeSkipReason } from '../lib/runtime';

const POINTS = ['after-record', 'after-ipam', 'after-link', 'after-bpf-load', 'after-attach', 'after-addresses', 'after-ready'];

t.test('SIGKILL after each setup step', { skip: runtimeSkipReason('runc') }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const state = async () => ({
    ...(await leftovers(env, host.name)),
    forwarding: (await runOk(['ip', 'netns', 'exec', host.name, 'sh', '-c', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding'])).stdout.trim(),
  });
  const before = await state();
  for (const point of POINTS) {
    const id = `fault-${point}`;
    const bundle = await createBundle(t, {
      runtime: 'runc',
      args: ['sh', '-c', 'ip -o -4 addr show dev eth0'],
      hooks: { createRuntime: [env.hook('createRuntime', [`NKIT_FAULT=${point}`])], poststop: [env.hook('poststop')] },
    });
    const r = await runtimeRun({ runtime: 'runc', bundle: bundle.dir, id, hostNetns: host.name, timeoutMs: 60_000 });
    t.not(r.code, 0, `${point}: runc fails`);
    t.match(r.stderr, /hook|signal: killed/i, `${point}: runc says a hook failed (${r.stderr.trim().split('\n').pop()})`);
    const gc = await run(['nsenter', `--net=/run/netns/${host.name}`, CLI, '--config', env.configPath, 'gc']);
    t.equal(gc.code, 0, `${point}: gc exits 0`);
    t.same(await state(), before, `${point}: gc returned the host to its state before`);
    // The same id again, without the fault.
    const ok = await createBundle(t, { runtime: 'runc', args: ['sh', '-c', 'ip -o -4 addr show dev eth0'], hooks: env.hooks(['createRuntime', 'poststop']) });
    const r2 = await runtimeRun({ runtime: 'runc', bundle: ok.dir, id, hostNetns: host.name, timeoutMs: 60_000 });
    t.equal(r2.code, 0, `${point}: a retry with the same id succeeds (${r2.stderr.trim()})`);
    t.match(r2.stdout, /inet 10\.213\.0\.2\//, `${point}: and gets the first address again (nothing leaked)`);
  }
  t.same(await state(), before, 'in the end, exactly the state before');
});
