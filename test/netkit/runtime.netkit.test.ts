// Netkit for real (runs in the VM, `make test-vm`): runc and crun containers
// get a netkit pair (l3, blackhole policies, scrub as designed), both BPF
// links, traffic passes or not as the policy says, the device's own
// blackhole holds when the program is detached, and teardown leaves
// nothing. Every fact is read back from the kernel (iproute2, bpftool).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runOk } from '../lib/exec';
import { createBundle, type Bundle, type Runtime } from '../lib/bundle';
import { bpftoolNet, ipLink, ipLinks, listFiles } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { PINS, leftovers, nkitEnv, type NkitTestEnv } from '../lib/nkit';
import { runtimeRun, runtimeSkipReason, type RuntimeRunResult } from '../lib/runtime';
import { ping, tcp } from '../lib/traffic';
import { waitFor } from '../lib/wait';
import { netkitSkipReason } from './netkit-skip';

const WAIT = 'touch /ready; i=0; while [ ! -f /go ] && [ $i -lt 1800 ]; do sleep 0.1; i=$((i+1)); done';

interface Running {
  id: string;
  bundle: Bundle;
  done: Promise<RuntimeRunResult>;
  rec: { primary: { name: string }; netns: { path: string }; addresses: Array<{ address: string }>; datapath: string };
}

async function start(t: Test, runtime: Runtime, env: NkitTestEnv, host: string, id: string, policy: string): Promise<Running> {
  const bundle = await createBundle(t, {
    runtime,
    args: ['sh', '-c', WAIT],
    annotations: { 'org.nkit.policy': policy },
    hooks: env.hooks(['createRuntime', 'prestart', 'poststop']),
  });
  const done = runtimeRun({ runtime, bundle: bundle.dir, id, hostNetns: host, timeoutMs: 600_000 });
  const ok = await waitFor(() => existsSync(join(bundle.rootfs, 'ready')), { timeoutMs: 300_000, intervalMs: 200 });
  if (!ok) {
    writeFileSync(join(bundle.rootfs, 'go'), '');
    const r = await done;
    throw new Error(`container ${id} did not start: ${r.stderr}`);
  }
  const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', `${id}.json`), 'utf8'));
  return { id, bundle, done, rec };
}

for (const runtime of ['runc', 'crun'] as const) {
  t.test(`${runtime}: netkit end to end`, { skip: netkitSkipReason() || runtimeSkipReason(runtime) }, async (t) => {
    const host = await createNetns(t);
    const env = await nkitEnv(t, { datapath: 'netkit', policy: 'deny-all' });
    const a = await start(t, runtime, env, host.name, `nk-${runtime}-a`, 'allow-all');
    const b = await start(t, runtime, env, host.name, `nk-${runtime}-b`, 'allow-all');
    const c = await start(t, runtime, env, host.name, `nk-${runtime}-c`, 'deny-all');
    try {
      // The devices, read back with iproute2 6.15.
      const link = await ipLink(a.rec.primary.name, { netns: host.name });
      t.equal(link?.linkinfo?.info_kind, 'netkit', 'host side is a netkit device');
      t.same(link?.linkinfo?.info_data, { mode: 'l3', type: 'primary', policy: 'blackhole', peer_policy: 'blackhole', scrub: 'none', peer_scrub: 'default', ...(link?.linkinfo?.info_data?.headroom !== undefined ? { headroom: 0, tailroom: 0 } : {}), ...(link?.linkinfo?.info_data?.pairing !== undefined ? { pairing: link?.linkinfo?.info_data?.pairing } : {}) }, 'mode l3, both policies blackhole, scrub none / peer default');
      const recQueues = (JSON.parse(readFileSync(join(env.runDir, 'containers', `${a.id}.json`), 'utf8')) as { numa: { queues: number } }).numa.queues;
      t.equal(link?.num_tx_queues, recQueues, `queue count as planned and recorded (${recQueues})`);
      t.ok(link?.flags.includes('NOARP'), 'l3: no ARP');
      t.notOk((await ipLinks({ netns: host.name })).some((l) => l.ifname === 'eth0'), 'no eth0 on the host side');
      const eth0 = JSON.parse((await runOk(['nsenter', `--net=${a.rec.netns.path}`, 'ip', '-j', '-d', 'link', 'show', 'eth0'])).stdout)[0];
      t.equal(eth0?.linkinfo?.info_kind, 'netkit', 'eth0 in the container is the netkit peer');
      t.equal(eth0?.linkinfo?.info_data?.type, 'peer', 'eth0 is the peer side');
      t.equal(a.rec.datapath, 'netkit', 'record says netkit');
      // Both BPF links, read back with bpftool 7.5.
      const net = JSON.stringify(await bpftoolNet(a.rec.primary.name, { netns: host.name }));
      t.match(net, /netkit\/peer[^}]*nkit_egress|nkit_egress[^}]*netkit\/peer/, 'nkit_egress attached at netkit/peer');
      t.match(net, /netkit\/primary[^}]*nkit_ingress|nkit_ingress[^}]*netkit\/primary/, 'nkit_ingress attached at netkit/primary');
      t.same((await listFiles(join(env.bpffsDir, a.id))).sort(), PINS, 'links and maps pinned');

      // Traffic with allow-all: to the host address and to another container, ICMP and TCP, v4 and v6.
      const [a4, a6] = a.rec.addresses.map((x) => x.address);
      const [b4, b6] = b.rec.addresses.map((x) => x.address);
      t.ok(await ping(a.rec.netns.path, '10.213.0.1'), 'A pings the host (v4)');
      t.ok(await ping(a.rec.netns.path, 'fd6e:6b69:74::1'), 'A pings the host (v6)');
      t.ok(await ping(a.rec.netns.path, b4!), 'A pings B (v4)');
      t.ok(await ping(a.rec.netns.path, b6!), 'A pings B (v6)');
      t.ok(await tcp(a.rec.netns.path, b.rec.netns.path, b4!, 8080), 'TCP A -> B (v4)');
      t.ok(await tcp(a.rec.netns.path, b.rec.netns.path, b6!, 8081), 'TCP A -> B (v6)');
      t.ok(await tcp(a.rec.netns.path, `/run/netns/${host.name}`, '10.213.0.1', 8082), 'TCP A -> host (v4)');
      // deny-all: nothing in or out.
      t.notOk(await ping(c.rec.netns.path, '10.213.0.1'), 'C (deny-all) cannot ping the host');
      t.notOk(await ping(c.rec.netns.path, 'fd6e:6b69:74::1'), 'C (deny-all) cannot ping the host (v6)');
      t.notOk(await ping(a.rec.netns.path, c.rec.addresses[0]!.address), 'A cannot reach C');
      t.notOk(await tcp(c.rec.netns.path, `/run/netns/${host.name}`, '10.213.0.1', 8083), 'no TCP from C');
      // Detach A's program: the device's own blackhole policy drops everything.
      rmSync(join(env.bpffsDir, a.id, 'link_egress'));
      rmSync(join(env.bpffsDir, a.id, 'link_ingress'));
      const after = JSON.stringify(await bpftoolNet(a.rec.primary.name, { netns: host.name }));
      t.notMatch(after, /nkit_/, 'no program attached any more');
      t.notOk(await ping(a.rec.netns.path, '10.213.0.1'), 'A, detached: the peer blackhole drops its packets');
      t.notOk(await ping(b.rec.netns.path, a4!), 'B cannot reach A: the primary blackhole drops packets to it');
      t.notOk(await ping(b.rec.netns.path, a6!), '... also over IPv6');
    } finally {
      for (const x of [a, b, c]) writeFileSync(join(x.bundle.rootfs, 'go'), '');
    }
    for (const x of [a, b, c]) {
      const r = await x.done;
      t.equal(r.code, 0, `${x.id} exited 0 (${r.stderr.trim()})`);
    }
    const clean = await waitFor(async () => {
      const l = await leftovers(env, host.name);
      return !l.devices.length && !l.routes.length && !l.files.length && !l.pins.length;
    }, { timeoutMs: 30_000 });
    t.ok(clean, 'teardown left no device, route, lease, pin or record');
    if (!clean) {
      t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
      t.comment(readFileSync(join(env.runDir, 'nkit.log'), 'utf8').split('\n').slice(-40).join('\n'));
    }
  });
}
