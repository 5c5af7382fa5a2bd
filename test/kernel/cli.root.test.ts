// The nkit CLI on this host: doctor agrees with an independent probe
// (iproute2 creating a netkit device), status lists a container set up by
// the hook, version matches package.json; datapath "netkit" on a kernel
// without it fails cleanly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { run } from '../lib/exec';
import { fakeContainer, runHook } from '../lib/hookrun';
import { createNetns } from '../lib/netns';
import { CLI, leftovers, nkitEnv } from '../lib/nkit';
import { repoRoot } from '../lib/paths';
import { rootSkipReason } from '../lib/skip';

const skip = rootSkipReason();

t.test('doctor reports what the kernel can do', { skip }, async (t) => {
  const ns = await createNetns(t);
  const independent = await run(['ip', '-n', ns.name, 'link', 'add', 'nkprobe', 'type', 'netkit']);
  const r = await run([CLI, 'doctor', '--json']);
  t.equal(r.code, 0, `doctor exits 0 (${r.stderr})`);
  const rep = JSON.parse(r.stdout);
  t.equal(rep.netkit.available, independent.code === 0, `netkit ${independent.code === 0 ? 'available' : 'missing'}, as iproute2 finds`);
  t.equal(rep.auto.datapath, independent.code === 0 ? 'netkit' : 'veth', 'auto would pick accordingly');
  if (!rep.netkit.available) t.match(rep.auto.reason, /netkit unavailable/, 'and says why');
  t.equal(rep.tcx.available, true, 'tcx works (linux >= 6.6)');
  t.equal(rep.kernel, readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
  t.match(rep.runtimes.runc, /runc version/);
  const human = await run([CLI, 'doctor']);
  t.match(human.stdout, /^netkit +(ok|NO)/m, 'human output has a netkit line');
});

t.test('status lists what the hook set up; version', { skip }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const c = await fakeContainer(t, 'kt-status');
  t.equal((await runHook(t, env, host.name, 'createRuntime', c.state())).code, 0);
  const s = await run([CLI, '--config', env.configPath, 'status', '--json']);
  t.equal(s.code, 0);
  const rows = JSON.parse(s.stdout);
  t.equal(rows.length, 1);
  t.match(rows[0], { id: 'kt-status', state: 'ready', datapath: 'veth', policy: 'allow-all', addresses: ['10.213.0.2/24', 'fd6e:6b69:74::2/64'] });
  t.match(rows[0], { slot: Number, programs: new RegExp(`^${env.bpffsDir}/_prog_[0-9a-f]{12}$`) }, 'its slot and the programs it runs');
  const human = await run([CLI, '--config', env.configPath, 'status']);
  t.match(human.stdout, /kt-status +ready +veth \(fallback\)/, 'the fallback is visible in the table');
  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
  t.match((await run([CLI, '--config', env.configPath, 'status'])).stdout, /no containers/);
  const v = await run([CLI, 'version']);
  t.equal(v.stdout.trim(), `nkit ${JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version}`);
  const bad = await run([CLI, 'frobnicate']);
  t.equal(bad.code, 2, 'unknown command is a usage error');
});

t.test('datapath "netkit" without netkit in the kernel: clear error, nothing left', { skip }, async (t) => {
  const ns = await createNetns(t);
  const hasNetkit = (await run(['ip', '-n', ns.name, 'link', 'add', 'nkprobe', 'type', 'netkit'])).code === 0;
  if (hasNetkit) {
    t.comment('this kernel has netkit: the missing-netkit error cannot happen here');
    return;
  }
  const host = await createNetns(t);
  const env = await nkitEnv(t, { datapath: 'netkit' });
  const c = await fakeContainer(t, 'kt-need-netkit');
  const r = await runHook(t, env, host.name, 'createRuntime', c.state());
  t.equal(r.code, 1);
  t.match(r.stderr, /for container kt-need-netkit: netkit unavailable.*CONFIG_NETKIT.*set "datapath": "auto" or "veth"/);
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
});
