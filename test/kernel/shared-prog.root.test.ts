// One verified program for every container: the first setup loads and pins
// it, later ones attach the same program; each container's maps sit in its
// slot, which its host device's ifindex names. Read back from the kernel:
// program ids of the links, map ids in the slots, device ifindexes.
import t from 'tap';
import { readFileSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as abi from '../../src/bpf/abi';
import { mapId, slotOwner } from '../../src/bpf/program';
import { closeShared, openSharedPins, startReleaseSlot } from '../../src/bpf/shared';
import { firstSlot } from '../../src/lifecycle/setup';
import { addon } from '../../src/native';
import { runOk } from '../lib/exec';
import { fakeContainer, runHook } from '../lib/hookrun';
import { ipLink, listFiles } from '../lib/kernel';
import { createNetns } from '../lib/netns';
import { leftovers, nkitEnv } from '../lib/nkit';
import { rootSkipReason } from '../lib/skip';

interface Rec { id: string; primary: { name: string; ifindex: number }; bpf: { pinDir: string; shared: string; slot: number } }

const linkProgId = (pin: string): number => {
  const fd = addon().bpfObjGet(pin);
  try {
    return addon().bpfObjInfo(fd, 64).readUInt32LE(8); // struct bpf_link_info: type, id, prog_id
  } finally {
    addon().closeFd(fd);
  }
};
const pinnedMapId = (pin: string): number => {
  const fd = addon().bpfObjGet(pin);
  try {
    return mapId(fd);
  } finally {
    addon().closeFd(fd);
  }
};

t.test('containers share one program; their maps sit in their slots', { skip: rootSkipReason() }, async (t) => {
  const host = await createNetns(t);
  const env = await nkitEnv(t, { policy: 'allow-all', datapath: 'veth' });
  const ids = ['kt-shared-a', 'kt-shared-b'];
  // The first slot of b is taken on the host: its setup moves on to the next.
  const taken = abi.slotIfindex(firstSlot(ids[1]!));
  await runOk(['ip', '-n', host.name, 'link', 'add', 'nkt-taken', 'index', String(taken), 'type', 'veth', 'peer', 'name', 'nkt-taken1']);
  const recs: Rec[] = [];
  const ctrs = [];
  for (const id of ids) {
    const c = await fakeContainer(t, id);
    ctrs.push(c);
    const r = await runHook(t, env, host.name, 'createRuntime', c.state());
    t.equal(r.code, 0, `${id}: createRuntime exit 0 (${r.stderr.trim()})`);
    recs.push(JSON.parse(readFileSync(join(env.runDir, 'containers', `${id}.json`), 'utf8')) as Rec);
  }
  const [a, b] = recs as [Rec, Rec];
  t.equal(a.bpf.slot, firstSlot(a.id), 'a: the first slot of its id');
  t.equal(b.bpf.slot, (firstSlot(b.id) + 1) % abi.MAX_SLOTS, 'b: the next slot, its first one being in use');
  for (const r of recs) {
    t.equal(r.primary.ifindex, abi.slotIfindex(r.bpf.slot), `${r.id}: the host device's ifindex names its slot`);
    t.equal((await ipLink(r.primary.name, { netns: host.name }))?.ifindex, r.primary.ifindex, `${r.id}: the kernel agrees`);
  }
  t.equal(a.bpf.shared, b.bpf.shared, 'one shared directory');
  t.match(a.bpf.shared, new RegExp(`^${env.bpffsDir}/_prog_[0-9a-f]{12}$`));

  const shared = openSharedPins(a.bpf.shared);
  t.ok(shared, 'the shared pins are complete');
  if (!shared) return;
  try {
    const progIds = { egress: addon().bpfObjInfo(shared.progs.egress, 8).readUInt32LE(4), ingress: addon().bpfObjInfo(shared.progs.ingress, 8).readUInt32LE(4) };
    for (const r of recs) {
      t.equal(linkProgId(join(r.bpf.pinDir, 'link_egress')), progIds.egress, `${r.id}: its egress link runs the shared egress program`);
      t.equal(linkProgId(join(r.bpf.pinDir, 'link_ingress')), progIds.ingress, `${r.id}: its ingress link runs the shared ingress program`);
      t.equal(slotOwner(shared.slots, r.bpf.slot), pinnedMapId(join(r.bpf.pinDir, 'map_cfg')), `${r.id}: its slot holds its own config map`);
    }
    // A slot is emptied only by its owner: b's maps cannot clear a's slot.
    t.equal(startReleaseSlot(env.runDir, a.bpf.shared, a.bpf.slot, join(b.bpf.pinDir, 'map_cfg')), undefined, 'another container\'s maps do not release a slot');
    t.ok(slotOwner(shared.slots, a.bpf.slot), 'a\'s slot still full');

    const d = await runHook(t, env, host.name, 'poststop', ctrs[0]!.state('stopped'));
    t.equal(d.code, 0, 'a: poststop exit 0');
    t.equal(slotOwner(shared.slots, a.bpf.slot), undefined, 'a\'s slot is empty');
    for (const k of abi.MAP_KINDS) t.equal(addon().bpfMapLookup(shared.slots[k], abi.encodeU32(a.bpf.slot), 4), null, `a's slot: no ${k} map`);
    t.equal(slotOwner(shared.slots, b.bpf.slot), pinnedMapId(join(b.bpf.pinDir, 'map_cfg')), 'b\'s slot untouched');
    t.ok(existsSync(b.bpf.shared), 'the shared pins stay while b runs');
  } finally {
    closeShared(shared);
  }
  const d = await runHook(t, env, host.name, 'poststop', ctrs[1]!.state('stopped'));
  t.equal(d.code, 0, 'b: poststop exit 0');
  const kept = openSharedPins(b.bpf.shared);
  t.ok(kept, 'the shared programs stay pinned for the next container');
  if (kept) {
    for (const k of abi.MAP_KINDS) t.equal(addon().bpfMapLookup(kept.slots[k], abi.encodeU32(b.bpf.slot), 4), null, `b's slot: no ${k} map`);
    closeShared(kept);
  }
  t.same((await listFiles(env.bpffsDir)).filter((f) => !f.startsWith(`${basename(b.bpf.shared)}/`) && f !== `${basename(b.bpf.shared)}/`), [], 'nothing else left in bpffs');
  const left = await leftovers(env, host.name);
  t.same(left.devices.filter((n) => n !== 'nkt-taken' && n !== 'nkt-taken1'), [], 'no nkit device left');
});
