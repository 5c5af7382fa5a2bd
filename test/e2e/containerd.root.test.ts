// End to end with real containerd (Debian's 1.6.20: no NRI v2) through the
// path such a containerd has for hooks: a base spec carrying them. The spec is
// built as the README says, `ctr oci spec | packaging/containerd/nkit-base-spec`
// with packaging/containerd/nkit-hooks.json (pointed at this checkout and a
// test config), and run with `ctr run --rm --config SPEC ID` against a private
// daemon: the container gets nkit's eth0, the policy holds, and after exit
// nothing is left. The same spec without the hooks gets nothing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ctrRun, ctrSpec, containerdSkipReason, startContainerd } from '../lib/containerd';
import { checkClean, checkReport, checkUntouched, checkWiredWhileRunning, REPORT_SCRIPT, waitReady } from '../lib/engine-checks';
import { engineHost } from '../lib/engine-host';
import { testContainerdHooks } from '../lib/hooksd';
import { nkitEnv } from '../lib/nkit';
import { buildRootfs } from '../lib/rootfs';
import { tempDir } from '../lib/scope';

const skip = containerdSkipReason();

for (const policy of ['allow-all', 'deny-all'] as const) {
  t.test(`containerd: ctr run with nkit's base spec, ${policy}: eth0, the policy, clean teardown`, { skip }, async (t) => {
    const env = await nkitEnv(t, { policy });
    const host = await engineHost(t, 'containerd');
    const cd = await startContainerd(t, host);
    t.comment(cd.version);
    const id = `e2e-ctr-${policy}-${process.pid}`;
    const rootfs = await buildRootfs(join(await tempDir(t, 'nkt-rootfs-'), 'rootfs'));
    const spec = await ctrSpec(host, await testContainerdHooks(t, env), {
      id, rootfs, args: ['sh', '-c', REPORT_SCRIPT], annotations: { 'org.nkit.network': 'default' },
    });
    const running = ctrRun(cd, host, spec, id, 90_000);

    const ready = await waitReady(rootfs);
    t.ok(ready, 'container reported ready');
    if (ready) await checkWiredWhileRunning(t, env, host.netns.name, id);
    writeFileSync(join(rootfs, 'go'), '');
    const r = await running;
    t.equal(r.code, 0, `ctr exit 0 (stderr: ${r.stderr.trim()})`);
    if (r.code !== 0) t.comment((await cd.log()).slice(-3000));
    checkReport(t, r.stdout, policy);
    await checkClean(t, env, host.netns.name);
    t.equal((await cd.ctr(['containers', 'list', '-q'])).stdout.trim(), '', 'ctr removed the container');
  });
}

t.test('containerd: the same spec without nkit-base-spec gets no nkit network', { skip }, async (t) => {
  const env = await nkitEnv(t, { policy: 'allow-all' });
  const host = await engineHost(t, 'containerd');
  const cd = await startContainerd(t, host);
  const id = `e2e-ctr-plain-${process.pid}`;
  const rootfs = await buildRootfs(join(await tempDir(t, 'nkt-rootfs-'), 'rootfs'));
  const spec = await ctrSpec(host, undefined, { id, rootfs, args: ['sh', '-c', REPORT_SCRIPT], annotations: { 'org.nkit.network': 'default' } });
  const running = ctrRun(cd, host, spec, id, 90_000);

  const ready = await waitReady(rootfs);
  t.ok(ready, 'container reported ready');
  if (ready) await checkUntouched(t, env, host.netns.name);
  writeFileSync(join(rootfs, 'go'), '');
  const r = await running;
  t.equal(r.code, 0, `ctr exit 0 (stderr: ${r.stderr.trim()})`);
  t.notMatch(r.stdout, /eth0/, 'the container has no eth0');
  await checkClean(t, env, host.netns.name);
});
