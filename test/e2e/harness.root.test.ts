// Self-test of the e2e harness with real runc and crun: hooks run in the test's host netns.
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import t from 'tap';
import { createBundle, type Runtime } from '../lib/bundle';
import { captureHook } from '../lib/capture';
import { runOk } from '../lib/exec';
import { bpftoolLinks, bpftoolNet, ipAddrs, ipLink, ipLinks, ipRoutes, listFiles } from '../lib/kernel';
import { createNetns, listNetns, netnsHolders, netnsInode } from '../lib/netns';
import { fixturePath } from '../lib/paths';
import { runtimeRun, runtimeSkipReason } from '../lib/runtime';
import { defer, tempDir } from '../lib/scope';
import { firstReason, rootSkipReason, toolsSkipReason } from '../lib/skip';
import { waitFor } from '../lib/wait';

const RUNTIMES: readonly Runtime[] = ['runc', 'crun'];
const FIXTURE_VERSION: Record<Runtime, string> = { runc: 'runc-1.1.5', crun: 'crun-1.8.1' };

const fixture = (rt: Runtime, stage: string): Record<string, unknown> =>
  JSON.parse(readFileSync(fixturePath(`${FIXTURE_VERSION[rt]}-${stage}-state.json`), 'utf8')) as Record<string, unknown>;

const inodeOf = (nsLink: string | undefined): number => Number(/^net:\[(\d+)\]$/.exec(nsLink ?? '')?.[1] ?? NaN);

for (const runtime of RUNTIMES) {
  t.test(`${runtime}: hooks see the OCI state and the container's own netns`, { skip: runtimeSkipReason(runtime) }, async (t) => {
    const host = await createNetns(t);
    const hostIno = await netnsInode(host.path);
    const cap = await captureHook(t);
    const id = `nkt-${runtime}-${process.pid}-hooks`;
    const bundle = await createBundle(t, {
      runtime,
      args: ['sh', '-c', 'echo container-ran; readlink /proc/self/ns/net'],
      hostname: 'nkt',
      hooks: cap.hooks(['createRuntime', 'poststop']),
    });
    const r = await runtimeRun({ runtime, bundle: bundle.dir, id, hostNetns: host.name, timeoutMs: 30_000 });
    t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.trim()})`);
    t.match(r.stdout, /^container-ran$/m, 'the container ran');

    const cr = await cap.read('createRuntime');
    if (!cr) throw new Error('createRuntime hook did not run');
    const expected = fixture(runtime, 'createRuntime');
    t.same(Object.keys(cr.state).sort(), Object.keys(expected).sort(), 'same state fields as the captured fixture');
    t.equal(cr.state['status'], expected['status'], `status ${String(expected['status'])}`);
    t.equal(cr.state['id'], id, 'state id');
    t.equal(cr.state['bundle'], bundle.dir, 'state bundle');
    t.ok(typeof cr.state['pid'] === 'number' && cr.state['pid'] > 1, 'a real host pid');
    t.same(cr.args, ['createRuntime', cap.outDir], 'argv as configured');
    t.equal(inodeOf(cr.selfNetns), hostIno, 'the hook runs in the test\'s host netns');
    t.not(inodeOf(cr.pidNetns), hostIno, '/proc/<pid>/ns/net is another netns');
    t.match(r.stdout, cr.pidNetns ?? 'missing', 'and it is the container\'s own');

    const ps = await cap.read('poststop');
    if (!ps) throw new Error('poststop hook did not run');
    t.equal(ps.state['status'], 'stopped', 'poststop: status stopped');
    t.equal(ps.state['id'], id, 'poststop: state id');
    t.same(Object.keys(ps.state).sort(), Object.keys(fixture(runtime, 'poststop')).sort(), 'poststop fields as the fixture');
    t.equal(inodeOf(ps.selfNetns), hostIno, 'poststop runs in the host netns too');

    t.same(r.leftover, [], 'no runtime state left');
    t.same(await netnsHolders(inodeOf(cr.pidNetns)), { pids: [], mounts: [] }, 'the container netns is gone');
    t.notOk(existsSync(`/sys/fs/cgroup/unified/${id}`), 'no cgroup left');
    t.same((await listNetns()).filter((n) => n.startsWith(`nkt-${process.pid}-`)), [host.name], 'no named netns but ours');
  });

  t.test(`${runtime}: a veth peer created by createRuntime shows in the container`, { skip: runtimeSkipReason(runtime) }, async (t) => {
    const host = await createNetns(t);
    const pin = `nkt-${process.pid}-${runtime}-pin`;
    defer(t, `remove /sys/fs/bpf/${pin}`, () => rm(`/sys/fs/bpf/${pin}`, { recursive: true, force: true }));
    // Host side stays in the test's netns (the hook's); the peer goes straight into the container's.
    const cap = await captureHook(t, {
      extra: {
        createRuntime: [
          'ip link add vh0 type veth peer name eth0 netns "/proc/$pid/ns/net"',
          'ip addr add 10.99.0.1/24 dev vh0',
          'ip link set vh0 up',
          'nsenter --net="/proc/$pid/ns/net" ip addr add 10.99.0.2/24 dev eth0',
          'nsenter --net="/proc/$pid/ns/net" ip link set eth0 up',
          'ip -j -d link show vh0 > "$out/vh0.json"',
          'ls /sys/class/net > "$out/sysfs-net"',
          `mkdir /sys/fs/bpf/${pin}`,
        ].join('\n'),
      },
    });
    const id = `nkt-${runtime}-${process.pid}-veth`;
    const bundle = await createBundle(t, { runtime, args: ['ip', 'addr'], hooks: cap.hooks(['createRuntime']) });
    const r = await runtimeRun({ runtime, bundle: bundle.dir, id, hostNetns: host.name, timeoutMs: 30_000 });
    t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.trim()})`);
    // busybox ip prints the peer's ifindex resolved in the container (eth0@eth0); carrier may lag.
    t.match(r.stdout, /^\d+: eth0@\S+: <[^>]*\bUP\b[^>]*>/m, 'eth0 is in the container, up');
    t.match(r.stdout, /inet 10\.99\.0\.2\/24/, 'with its address');

    const [vh0] = JSON.parse(readFileSync(`${cap.outDir}/vh0.json`, 'utf8')) as Awaited<ReturnType<typeof ipLinks>>;
    t.equal(vh0?.linkinfo?.info_kind, 'veth', 'host side was a veth in the test netns');
    t.type(vh0?.link_netnsid, 'number', 'its peer in another netns');
    const sysfsNet = readFileSync(`${cap.outDir}/sysfs-net`, 'utf8').split(/\s+/).filter(Boolean).sort();
    t.same(sysfsNet, ['lo', 'vh0'], "the hook's /sys/class/net is the host netns's");
    t.ok(existsSync(`/sys/fs/bpf/${pin}`), "the hook's /sys/fs/bpf is the real host bpffs");
    t.ok(
      await waitFor(async () => (await ipLink('vh0', { netns: host.name })) === undefined),
      'host side went with the container netns (asynchronously)',
    );
    t.same(r.leftover, [], 'no runtime state left');
  });

  t.test(`${runtime}: a run that outlives its timeout is killed and deleted`, { skip: runtimeSkipReason(runtime) }, async (t) => {
    const host = await createNetns(t);
    const cap = await captureHook(t);
    const id = `nkt-${runtime}-${process.pid}-timeout`;
    const bundle = await createBundle(t, { runtime, args: ['sleep', '60'], hooks: cap.hooks(['createRuntime']) });
    const r = await runtimeRun({ runtime, bundle: bundle.dir, id, hostNetns: host.name, timeoutMs: 1_500 });
    t.ok(r.timedOut, 'timed out');
    t.ok(r.durationMs < 10_000, `returned after ${r.durationMs} ms`);
    t.same(r.leftover, [id], 'the runtime left state, force-deleted');
    const cr = await cap.read('createRuntime');
    t.same(await netnsHolders(inodeOf(cr?.pidNetns)), { pids: [], mounts: [] }, 'the container is dead');
    t.notOk(existsSync(`/sys/fs/cgroup/unified/${id}`), 'no cgroup left');
  });
}

t.test('kernel readers parse iproute2 and bpftool JSON inside a test netns', { skip: firstReason(rootSkipReason(), toolsSkipReason(['ip', 'bpftool'])) }, async (t) => {
  const ns = await createNetns(t);
  const peer = await createNetns(t);
  const sh = (cmd: string): Promise<unknown> => runOk(['sh', '-ec', cmd], { timeoutMs: 10_000 });
  await sh(`ip -n ${ns.name} link add v0 type veth peer name v1 netns ${peer.name}
ip -n ${ns.name} addr add 10.98.0.1/24 dev v0
ip -n ${ns.name} addr add fd98::1/64 dev v0 nodad
ip -n ${ns.name} link set v0 up
ip -n ${ns.name} route add 10.97.0.0/16 dev v0`);

  const v0 = await ipLink('v0', { netns: ns.name });
  t.equal(v0?.linkinfo?.info_kind, 'veth', 'ip -d link: kind');
  t.type(v0?.link_netnsid, 'number', 'ip -d link: peer netns id');
  t.equal(await ipLink('v0'), undefined, 'not in the test process netns');
  const [addrs] = await ipAddrs({ netns: ns.name, dev: 'v0' });
  t.same(addrs?.addr_info.map((a) => `${a.local}/${a.prefixlen}`).filter((a) => !a.startsWith('fe80')), ['10.98.0.1/24', 'fd98::1/64'], 'ip -j addr');
  t.ok((await ipRoutes({ netns: ns.name })).some((r) => r.dst === '10.97.0.0/16' && r.dev === 'v0'), 'ip -j route');
  t.ok((await ipRoutes({ netns: ns.name, family: 6 })).some((r) => r.dst === 'fd98::/64'), 'ip -j -6 route');
  t.same(await ipRoutes({ netns: peer.name }), [], 'an empty table parses as []');
  const net = await bpftoolNet('v0', { netns: ns.name });
  t.same(net['tc'], [], 'bpftool net show dev: nothing attached');
  t.ok(Array.isArray(await bpftoolLinks()), 'bpftool link show');

  const dir = await tempDir(t);
  await sh(`mkdir -p ${dir}/a/b ${dir}/empty && touch ${dir}/a/b/pin ${dir}/rec.json`);
  t.same(await listFiles(dir), ['a/', 'a/b/', 'a/b/pin', 'empty/', 'rec.json'], 'listFiles: dirs end in /');
  t.same(await listFiles(`${dir}/missing`), [], 'listFiles: missing dir is empty');
});
