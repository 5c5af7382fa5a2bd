// End to end with real runc and crun: nkit-oci-hook at createRuntime and
// poststop gives a busybox container eth0 with its addresses and default
// routes, the policy decides whether it reaches the host, and after exit
// nothing is left. On this host (no netkit) the datapath is veth+tcx.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createBundle, type OciConfig, type Runtime } from '../lib/bundle';
import { bpftoolNet, ipLink, ipRoutes, listFiles } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { PINS, leftovers, nkitEnv, startTestAgent } from '../lib/nkit';
import { runtimeRun, runtimeSkipReason } from '../lib/runtime';
import { waitFor } from '../lib/wait';

const RUNTIMES: readonly Runtime[] = ['runc', 'crun'];

// busybox ping needs a raw socket: the runtimes' default spec lacks CAP_NET_RAW.
export function withNetRaw(c: OciConfig): void {
  const caps = (c.process.capabilities ??= {}) as Record<string, string[]>;
  for (const set of ['bounding', 'effective', 'permitted']) caps[set] = [...new Set([...(caps[set] ?? []), 'CAP_NET_RAW'])];
}

// The container reports its network, signals readiness through a file in its
// rootfs (a host directory), and waits until the test has looked.
const SCRIPT = [
  'ip -o addr show dev eth0',
  'echo ROUTES4; ip route',
  'echo ROUTES6; ip -6 route',
  'ping -c 1 -W 2 10.213.0.1 >/dev/null 2>&1 && echo PING4=ok || echo PING4=fail',
  'ping6 -c 1 -W 2 fd6e:6b69:74::1 >/dev/null 2>&1 && echo PING6=ok || echo PING6=fail',
  'touch /ready',
  'i=0; while [ ! -f /go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done',
].join('\n');

// Cold: the hook runs Node itself. Agent: the native hook client forwards
// to nkitd. The same assertions hold in both.
for (const mode of ['cold', 'agent'] as const) for (const runtime of RUNTIMES) {
  for (const policy of ['allow-all', 'deny-all']) {
    t.test(`${mode}: ${runtime}: ${policy}: eth0, routes, policy, clean teardown`, { skip: runtimeSkipReason(runtime) }, async (t) => {
      const host = await createNetns(t);
      const env = await nkitEnv(t, { policy });
      if (mode === 'agent') await startTestAgent(t, env, host.name);
      const id = `e2e-${runtime}-${policy}-${process.pid}`;
      const bundle = await createBundle(t, {
        runtime,
        args: ['sh', '-c', SCRIPT],
        hooks: env.hooks(['createRuntime', 'prestart', 'poststop']),
        edit: withNetRaw,
      });
      const running = runtimeRun({ runtime, bundle: bundle.dir, id, hostNetns: host.name, timeoutMs: 90_000 });

      const ready = join(bundle.rootfs, 'ready');
      const sawReady = await waitFor(() => existsSync(ready), { timeoutMs: 60_000, intervalMs: 100 });
      t.ok(sawReady, 'container reported ready');
      if (sawReady) {
        // Host side, read from the kernel with iproute2/bpftool, not nkit.
        const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', `${id}.json`), 'utf8'));
        const dev = rec.primary.name as string;
        t.match(dev, /^nk[0-9a-f]{12}$/, 'primary named from the id');
        const link = await ipLink(dev, { netns: host.name });
        t.equal(link?.linkinfo?.info_kind, 'veth', 'fallback datapath veth on this host');
        t.equal(link?.ifalias, `nkit:${id}`, 'device carries the ownership alias');
        t.ok(link?.flags.includes('UP'), 'primary is up');
        const net = await bpftoolNet(dev, { netns: host.name });
        const tcx = JSON.stringify(net.tcx ?? net);
        t.match(tcx, /nkit_egress/, 'egress program attached with tcx');
        t.match(tcx, /nkit_ingress/, 'ingress program attached with tcx');
        t.same((await listFiles(join(env.bpffsDir, id))).sort(), PINS, 'links and maps pinned');
        const routes4 = await ipRoutes({ netns: host.name, family: 4 });
        t.ok(routes4.some((r) => r.dst === '10.213.0.2' && r.dev === dev), 'host /32 route to the container');
        const routes6 = await ipRoutes({ netns: host.name, family: 6 });
        t.ok(routes6.some((r) => r.dst === 'fd6e:6b69:74::2' && r.dev === dev), 'host /128 route to the container');
        t.same((await listFiles(join(env.runDir, 'ipam', 'default'))).filter((f) => !f.startsWith('.')).sort(), ['10.213.0.2', 'fd6e:6b69:74::2'], 'two leases');
        t.equal(rec.state, 'ready');
        t.equal(rec.datapath, 'veth');
        t.match(rec.datapathReason, /netkit unavailable/, 'record says why it fell back');
      }
      writeFileSync(join(bundle.rootfs, 'go'), '');
      const r = await running;
      t.equal(r.code, 0, `runtime exit 0 (stderr: ${r.stderr.trim()})`);
      t.match(r.stdout, /inet 10\.213\.0\.2\/24/, 'eth0 has the IPv4 address');
      t.match(r.stdout, /inet6 fd6e:6b69:74::2\/64/, 'eth0 has the IPv6 address');
      t.match(r.stdout, /ROUTES4\ndefault dev eth0/, 'IPv4 default route via eth0');
      t.match(r.stdout, /ROUTES6[\s\S]*default dev eth0/, 'IPv6 default route via eth0');
      const want = policy === 'allow-all' ? 'ok' : 'fail';
      t.match(r.stdout, new RegExp(`PING4=${want}`), `IPv4 ping to the host: ${want}`);
      t.match(r.stdout, new RegExp(`PING6=${want}`), `IPv6 ping to the host: ${want}`);

      const clean = await waitFor(async () => {
        const l = await leftovers(env, host.name);
        return !l.devices.length && !l.routes.length && !l.files.length && !l.pins.length;
      }, { timeoutMs: 10_000 });
      t.ok(clean, 'nothing left');
      const log = readFileSync(join(env.runDir, 'nkit.log'), 'utf8');
      if (mode === 'agent') {
        t.match(log, /"command":"agent".*"msg":"request done"/, 'the agent served the hooks');
        t.notMatch(log, /agent is not available/, 'no hook fell back to Node');
      } else {
        t.match(log, /agent is not available/, 'without an agent the hook ran in-process and logged why');
      }
      if (!clean) t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
    });
  }
}
