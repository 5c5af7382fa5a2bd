// Seeing what the datapath does: `nkit capture` writes the packets the
// policy passed and dropped (with why) to pcapng that tcpdump reads;
// `nkit metrics` exposes the counters for Prometheus; `nkit status ID` has
// the datapath and why, queues and NUMA, program tags and link ids.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { run, runOk } from '../lib/exec';
import { fakeContainer, runHook } from '../lib/hookrun';
import { createNetns } from '../lib/netns';
import { CLI, leftovers, nkitEnv } from '../lib/nkit';
import { firstReason, rootSkipReason, toolsSkipReason } from '../lib/skip';
import { ping, tcp } from '../lib/traffic';
import { waitFor } from '../lib/wait';

const skip = firstReason(rootSkipReason(), toolsSkipReason(['tcpdump']));

t.test('capture, metrics, status', { skip }, async (t) => {
  const host = await createNetns(t);
  const hostNs = `/run/netns/${host.name}`;
  const env = await nkitEnv(t);
  mkdirSync(env.config.policiesDir as string, { recursive: true });
  writeFileSync(join(env.config.policiesDir as string, 'web.json'), JSON.stringify({ egress: [{ cidr: '10.213.0.1/32', proto: 'tcp', ports: '8080' }] }));
  const c = await fakeContainer(t, 'kt-obs', { annotations: { 'org.nkit.policy': 'web' } });
  t.equal((await runHook(t, env, host.name, 'createRuntime', c.state())).code, 0);
  const pcap = join(env.runDir, '..', 'cap.pcapng');
  const cli = (...a: string[]) => ['nsenter', `--net=${hostNs}`, CLI, '--config', env.configPath, ...a];
  const cap = run(cli('capture', 'kt-obs', '--dir', 'egress', '--timeout', '20', '-w', pcap), { timeoutMs: 40_000 });
  // The capture flag is on once the program starts copying: retry until seen.
  const seen = await waitFor(async () => {
    await ping(c.netns.path, '10.213.0.1', 1);
    return readFileSync(pcap).includes('drop_policy');
  }, { timeoutMs: 15_000, intervalMs: 300 });
  t.ok(seen, 'a dropped ping shows up, with its reason');
  t.ok(await tcp(c.netns.path, hostNs, '10.213.0.1', 8080), 'allowed TCP');
  await new Promise((r) => setTimeout(r, 500));
  await runOk(['pkill', '-INT', '-f', `capture kt-obs`]);
  const r = await cap;
  t.equal(r.code, 0, `capture ended cleanly on SIGINT (${r.stderr.trim()})`);
  const file = readFileSync(pcap);
  t.ok(file.includes('nkit kt-obs egress pass (egress rule [0])'), 'passed packets are annotated with the rule');
  t.ok(file.includes('nkit kt-obs egress drop_policy'), 'dropped ones with the reason');
  const dump = await runOk(['tcpdump', '-nn', '-r', pcap]);
  t.match(dump.stdout, /10\.213\.0\.2 > 10\.213\.0\.1: ICMP echo request/, 'tcpdump reads the ping');
  t.match(dump.stdout, /10\.213\.0\.2\.\d+ > 10\.213\.0\.1\.8080: Flags \[S\]/, 'and the TCP SYN');
  t.notMatch(dump.stdout, /10\.213\.0\.1 > 10\.213\.0\.2/, '--dir egress: nothing towards the container');
  const flags = JSON.parse((await runOk(cli('status', 'kt-obs', '--json'))).stdout);
  t.equal(flags.programs.length, 2, 'status: both programs with link ids and tags');
  t.match(flags.programs[0], { linkId: Number, progId: Number, tag: /^[0-9a-f]{16}$/ });
  t.match(flags.record, { datapath: 'veth', numa: { queues: Number } });
  t.ok(flags.counters.egress.drop_policy.packets >= 1, 'status: counters');
  const human = (await runOk(cli('status', 'kt-obs'))).stdout;
  t.match(human, /datapath +veth: auto fallback: netkit unavailable/, 'status says why this datapath');
  t.match(human, new RegExp(`bpf +slot ${flags.record.bpf.slot} of the programs in ${env.bpffsDir}/_prog_[0-9a-f]{12} \\(shared by every container\\)`), 'status names the slot and the shared programs');
  const m = (await runOk(cli('metrics'))).stdout;
  t.match(m, /# TYPE nkit_packets_total counter/);
  t.match(m, /nkit_packets_total\{container="kt-obs",direction="egress",reason="drop_policy",datapath="veth"\} [1-9]\d*/, 'metrics: the drops');
  t.match(m, /nkit_containers\{datapath="veth"\} 1/);
  t.equal((await runHook(t, env, host.name, 'poststop', c.state('stopped'))).code, 0);
  t.same(await leftovers(env, host.name), { devices: [], routes: [], files: [], pins: [] });
});
