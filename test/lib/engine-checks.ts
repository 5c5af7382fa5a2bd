// What the engine e2e tests (podman, containerd) assert about a container nkit
// wired: read from the kernel with iproute2/bpftool and from the file system.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { bpftoolNet, ipLink, ipLinks, ipRoutes, listFiles } from './kernel';
import { PINS, leftovers, type NkitTestEnv } from './nkit';
import { waitFor } from './wait';

/**
 * The container's script: report its network and whether it reaches the host,
 * signal readiness through /ready in its rootfs (a host directory), and wait
 * for /go so the test can look at the host side while it runs.
 */
export const REPORT_SCRIPT = [
  'ip -o addr show',
  'echo ROUTES4; ip route',
  'ping -c 1 -W 2 10.213.0.1 >/dev/null 2>&1 && echo PING4=ok || echo PING4=fail',
  'ping6 -c 1 -W 2 fd6e:6b69:74::1 >/dev/null 2>&1 && echo PING6=ok || echo PING6=fail',
  'touch /ready',
  'i=0; while [ ! -f /go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done',
].join('\n');

/** Wait for the container's /ready (false after `timeoutMs`). */
export function waitReady(rootfs: string, timeoutMs = 60_000): Promise<boolean> {
  return waitFor(() => existsSync(join(rootfs, 'ready')), { timeoutMs, intervalMs: 100 });
}

/** The ids of nkit's container records under the test's runDir. */
export function recordIds(env: NkitTestEnv): string[] {
  const dir = join(env.runDir, 'containers');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length));
}

/** While the container runs: one record, its host device with both tcx programs, routes, pins, leases. */
export async function checkWiredWhileRunning(t: Test, env: NkitTestEnv, hostNetns: string, id?: string): Promise<string | undefined> {
  const ids = recordIds(env);
  t.equal(ids.length, 1, `one nkit record (${ids.join(', ')})`);
  const rid = id ?? ids[0];
  if (rid === undefined) return undefined;
  if (id !== undefined) t.same(ids, [id], 'the record is keyed by the engine\'s container id');
  const rec = JSON.parse(readFileSync(join(env.runDir, 'containers', `${rid}.json`), 'utf8'));
  t.equal(rec.state, 'ready', 'record ready');
  const dev = rec.primary.name as string;
  t.match(dev, /^nk[0-9a-f]{12}$/, 'host device named from the id');
  const link = await ipLink(dev, { netns: hostNetns });
  t.ok(link, `host device ${dev} exists in the host netns`);
  t.equal(link?.ifalias, `nkit:${rid}`, 'device carries the ownership alias');
  t.equal(link?.linkinfo?.info_kind, rec.datapath === 'netkit' ? 'netkit' : 'veth', `datapath ${rec.datapath}`);
  const tcx = JSON.stringify(await bpftoolNet(dev, { netns: hostNetns }));
  t.match(tcx, /nkit_egress/, 'egress program attached');
  t.match(tcx, /nkit_ingress/, 'ingress program attached');
  t.same((await listFiles(join(env.bpffsDir, rid))).sort(), PINS, 'links and maps pinned');
  const routes4 = await ipRoutes({ netns: hostNetns, family: 4 });
  t.ok(routes4.some((r) => r.dst === '10.213.0.2' && r.dev === dev), 'host /32 route to the container');
  return rid;
}

/** The container's own report: eth0 with nkit's addresses, default route, ping as the policy says. */
export function checkReport(t: Test, stdout: string, policy: 'allow-all' | 'deny-all'): void {
  t.match(stdout, /eth0\s+inet 10\.213\.0\.2\/24/, 'eth0 has the IPv4 address');
  t.match(stdout, /eth0\s+inet6 fd6e:6b69:74::2\/64/, 'eth0 has the IPv6 address');
  t.match(stdout, /ROUTES4\ndefault dev eth0/, 'IPv4 default route via eth0');
  const want = policy === 'allow-all' ? 'ok' : 'fail';
  t.match(stdout, new RegExp(`PING4=${want}`), `IPv4 ping to the host: ${want}`);
  t.match(stdout, new RegExp(`PING6=${want}`), `IPv6 ping to the host: ${want}`);
}

/** While a container nkit must not touch runs: no nk* device, no record. */
export async function checkUntouched(t: Test, env: NkitTestEnv, hostNetns: string): Promise<void> {
  const nk = (await ipLinks({ netns: hostNetns })).map((l) => l.ifname).filter((n) => n.startsWith('nk'));
  t.same(nk, [], 'no nkit device in the host netns');
  t.same(recordIds(env), [], 'no nkit record');
}

/** After exit: no device, route, record, lease or pin (teardown is asynchronous to the engine's exit). */
export async function checkClean(t: Test, env: NkitTestEnv, hostNetns: string): Promise<void> {
  const clean = await waitFor(async () => {
    const l = await leftovers(env, hostNetns);
    return !l.devices.length && !l.routes.length && !l.files.length && !l.pins.length;
  }, { timeoutMs: 15_000 });
  t.ok(clean, 'nothing left');
  if (!clean) t.same(await leftovers(env, hostNetns), { devices: [], routes: [], files: [], pins: [] });
}
