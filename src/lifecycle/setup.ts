// Setting up a container's network: plan, record, leases, the pair in one
// request, the policy attached before any link is up, addresses and routes
// on both sides, then the record marked ready. Any failure rolls back
// through teardown (one cleanup path) and rethrows.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { attachAndPin, createContainerMaps, ensureBpffs, pinMap, removePins, SlotWrite, startFillSlot } from '../bpf/program';
import { closeShared, openShared, SharedProgram, withSlots } from '../bpf/shared';
import * as abi from '../bpf/abi';
import { CompiledPolicy, compilePolicy } from '../policy/compile';
import { closeMaps, DeviceCfg, installPolicy, MAP_PINS, PolicyMapFds } from '../policy/maps';
import { loadPolicy } from '../policy/rules';
import { saveAppliedPolicy } from '../policy/applied';
import { LoadedConfig } from '../config/config';
import { Datapath, datapaths } from '../datapath/datapath';
import { NkitError } from '../errors';
import { allocate } from '../ipam/ipam';
import { Logger } from '../log';
import * as C from '../netlink/constants';
import { addAddress, addRoute, createPair, defaultRouteDevice, getLink, setLink } from '../netlink/ops';
import { EBUSY, EEXIST, EOPNOTSUPP, NetlinkError, NetlinkSocket, errnoText, withNetlink } from '../netlink/socket';
import { addon } from '../native';
import { probeNetkit } from '../datapath/probe';
import { HostNumaPlan, planHostNuma } from '../numa/host';
import { maskWrites, numaSettings } from '../numa/plan';
import { AddressPlan, ContainerPlan, planAddresses, planContainer } from '../plan/plan';
import { pinDirName } from '../plan/naming';
import { BundleInfo } from '../spec/oci';
import { faultPoint } from './fault';
import { withLock } from './lock';
import { netnsAlive, openContainerNetns, sameNetns } from './netns';
import { ContainerRecord, NumaRecord, RECORD_VERSION, readRecord, writeRecord } from './record';
import { ensureHostSysctl, ensureSysctl } from './sysctl';
import { containerLockPath, OWNER_ALIAS_PREFIX, teardownRecord } from './teardown';
import { ensureDir } from '../dirs';

const LOCK_TIMEOUT_MS = 30_000;

export interface SetupInput {
  id: string;
  pid?: number;
  bundle: BundleInfo;
  /** OCI state annotations over the bundle's (the state's win). */
  annotations: Record<string, string>;
  config: LoadedConfig;
  log: Logger;
}

export interface SetupResult {
  record: ContainerRecord;
  /** "already-set-up" when an earlier stage (createRuntime) did the work. */
  action: 'created' | 'already-set-up';
}

// Sets up the network of one container; idempotent for the same container.
export function setupContainer(input: SetupInput): SetupResult {
  const { id, config: cfg, log } = input;
  return withLock(containerLockPath(cfg.runDir, id), LOCK_TIMEOUT_MS, `set up container ${id}`, () => {
    const netns = openContainerNetns(id, input.pid, input.bundle);
    try {
      const existing = readRecord(cfg.runDir, id);
      if (existing) {
        if (sameNetns(existing.netns, netns.identity) && existing.state === 'ready') {
          log.info({ id }, 'setup: already set up for this container (earlier hook stage)');
          return { record: existing, action: 'already-set-up' as const };
        }
        if (!sameNetns(existing.netns, netns.identity) && netnsAlive(existing.netns)) {
          throw new NkitError('EEXIST', `container ${id} already has a network in another live namespace (${existing.netns.path})`, {
            hint: 'container ids must be unique; stop the other container first',
          });
        }
        log.warn({ id, state: existing.state }, 'setup: removing leftovers of an earlier setup of this id');
        teardownRecord(existing, cfg, log);
      }
      const plan = planContainer(id, cfg, input.annotations);
      // The policy is read and compiled before anything is created: a bad
      // policy stops the container with nothing to undo.
      const policy = loadPolicy(plan.policy.name, cfg.policiesDir, plan.policy.source);
      const compiled = compilePolicy(policy);
      const numa = planNumaFor(cfg, input.bundle.cpuset, log, id);
      const rec = initialRecord(plan, cfg, netns.identity, input.pid);
      if (policy.file) rec.policy.file = policy.file;
      if (ensureBpffs(cfg.bpffsDir).mounted) {
        log.warn({ id, bpffs: '/sys/fs/bpf' }, 'bpffs was not mounted on /sys/fs/bpf: mounted it (mount it at boot so pins outlive this mount namespace)');
      }
      // Pins of this id without a record (runDir lost, e.g. /run after a
      // reboot while bpffs stayed) are stale: we hold the id's lock.
      const stale = removePins(rec.bpf.pinDir);
      if (stale.length) log.warn({ id, stale }, 'removed stale pins of an earlier container with this id');
      writeRecord(cfg.runDir, rec);
      try {
        faultPoint('after-record');
        apply(plan, rec, cfg, netns.fd, compiled, numa, log);
        saveAppliedPolicy(cfg.runDir, plan.id, policy);
      } catch (err) {
        log.error({ id, err }, 'setup failed, rolling back');
        try {
          teardownRecord(rec, cfg, log);
        } catch (rbErr) {
          log.error({ id, err: rbErr }, 'rollback incomplete');
        }
        throw err;
      }
      return { record: rec, action: 'created' as const };
    } finally {
      fs.closeSync(netns.fd);
    }
  });
}

function initialRecord(plan: ContainerPlan, cfg: LoadedConfig, netns: ContainerRecord['netns'], pid: number | undefined): ContainerRecord {
  const now = new Date().toISOString();
  return {
    version: RECORD_VERSION,
    id: plan.id,
    state: 'creating',
    createdAt: now,
    updatedAt: now,
    network: plan.network,
    mode: plan.mode,
    mtu: plan.mtu,
    policy: { name: plan.policy.name, source: plan.policy.source },
    primary: { name: plan.primary },
    peer: { name: plan.peer },
    netns,
    ...(pid ? { pid } : {}),
    addresses: [],
    bpf: { pinDir: path.join(cfg.bpffsDir, pinDirName(plan.id)), pins: [] },
    sysctls: [],
  };
}

function apply(plan: ContainerPlan, rec: ContainerRecord, cfg: LoadedConfig, nsFd: number, policy: CompiledPolicy, numa: HostNumaPlan, log: Logger): void {
  const t0 = process.hrtime.bigint();
  const save = (): void => writeRecord(cfg.runDir, rec);
  let fill: SlotWrite | undefined;

  rec.addresses = allocate({ runDir: cfg.runDir, network: plan.network }, plan.id, plan.subnets);
  save();
  faultPoint('after-ipam');
  const addrs = planAddresses(rec.addresses);

  withNetlink(-1, (host) => {
    const created = createPairFor(host, plan, cfg, rec, nsFd, numa.plan.queues, log);
    const dp = created.dp;
    save();
    faultPoint('after-link');
    const primary = getLink(host, { name: plan.primary });
    if (!primary) throw new NkitError('EKERNEL', `device ${plan.primary} vanished right after it was created`);
    rec.primary.ifindex = primary.index;
    if (dp.kind === 'netkit') rec.features = { scrub: primary.netkit?.scrub !== undefined };
    setLink(host, { index: primary.index, alias: `${OWNER_ALIAS_PREFIX}${plan.id}` }, plan.primary);
    rec.numa = applyNumaMasks(numa, created.queues, plan, nsFd, log);
    save();

    // The policy goes on before any link is up: nothing passes without it.
    fill = attachPolicy(plan, rec, dp, primary.index, addrs, policy, cfg, log);
    save();
    faultPoint('after-attach');

    for (const a of addrs) {
      addAddress(host, addrReq(primary.index, a.family, a.host, true), `${a.host.address}/${a.host.prefixLen} on ${plan.primary}`);
    }
    if (dp.isL2(plan.mode)) {
      // The container resolves every address on its link: answer for the
      // ones routed elsewhere (other containers, the outside).
      const change = ensureSysctl(`/proc/sys/net/ipv4/conf/${plan.primary}/proxy_arp`, '1');
      if (change) log.debug({ id: plan.id, sysctl: change.path }, 'proxy_arp on');
    }
    setLink(host, { index: primary.index, up: true }, plan.primary);

    withNetlink(nsFd, (ctr) => configureContainerSide(ctr, plan, addrs));
    faultPoint('after-addresses');

    for (const a of addrs) {
      addRoute(
        host,
        { family: fam(a.family), dst: a.container.bytes, dstLen: a.family === 4 ? 32 : 128, oif: primary.index, scope: C.RT_SCOPE_LINK },
        `${a.container.address} dev ${plan.primary}`,
      );
    }
  });

  for (const a of addrs) {
    const file = a.family === 4 ? '/proc/sys/net/ipv4/ip_forward' : '/proc/sys/net/ipv6/conf/all/forwarding';
    const change = ensureHostSysctl(cfg.runDir, file, '1');
    if (change) {
      rec.sysctls.push(change);
      log.info({ id: plan.id, sysctl: change.path, previous: change.previous }, 'enabled forwarding');
    }
  }
  // The slot's grace periods have passed meanwhile, mostly.
  fill?.wait();
  rec.state = 'ready';
  save();
  faultPoint('after-ready');
  log.info(
    { id: plan.id, datapath: rec.datapath, primary: plan.primary, addresses: rec.addresses.map((a) => a.address), policy: plan.policy.name, ms: Number(process.hrtime.bigint() - t0) / 1e6 },
    'setup done',
  );
}

// Creates the pair, choosing the datapath: netkit unless the config says
// veth, falling back to veth only under "auto" and only when the kernel
// does not know netkit, with a warning that says so. Returns the datapath
// and the queue count the devices really got.
function createPairFor(s: NetlinkSocket, plan: ContainerPlan, cfg: LoadedConfig, rec: ContainerRecord, nsFd: number, queues: number, log: Logger): { dp: Datapath; queues: number } {
  const tryCreate = (dp: Datapath, reason: string, q = queues): { dp: Datapath; queues: number } => {
    rec.datapath = dp.kind;
    rec.datapathReason = reason;
    rec.bpf.slot = createInFreeSlot(
      plan.id,
      (slot) => createPair(s, dp.pairRequest(plan, nsFd, q, abi.slotIfindex(slot))),
      // The host says EEXIST for an ifindex in use (as for a name in use:
      // only a device at that index makes it the slot's), the container's
      // namespace EBUSY (netkit's peer).
      (err, slot) => err instanceof NetlinkError && (err.errno === EBUSY || (err.errno === EEXIST && getLink(s, { index: abi.slotIfindex(slot) }) !== undefined)),
    );
    return { dp, queues: q };
  };
  if (cfg.datapath === 'veth') return tryCreate(datapaths.veth, 'config: datapath veth');
  try {
    return tryCreate(datapaths.netkit, `config: datapath ${cfg.datapath}`);
  } catch (err) {
    if (!(err instanceof NetlinkError && err.errno === EOPNOTSUPP)) throw err;
    // EOPNOTSUPP can also mean netkit refused one of our options: newer
    // kernels cap netkit's TX queues (NETKIT_NUM_TX_QUEUES_MAX). The kernel
    // says "Unknown device type" when it has no netkit at all; otherwise a
    // plain probe decides.
    if (err.extack !== 'Unknown device type' && probeNetkit().available) {
      if (queues <= 1) throw err;
      log.warn({ id: plan.id, queues }, `netkit on this kernel refuses ${queues} queues (EOPNOTSUPP): created with 1 queue`);
      return tryCreate(datapaths.netkit, `config: datapath ${cfg.datapath}`, 1);
    }
    const why = `netkit unavailable: the kernel does not know link kind netkit (${err.extack ?? 'EOPNOTSUPP'}); it needs linux >= 6.7 with CONFIG_NETKIT`;
    if (cfg.datapath === 'netkit') {
      throw new NkitError('ENOTSUPP', `container ${plan.id}: ${why}`, { cause: err, hint: 'set "datapath": "auto" or "veth" in the config to use veth+tcx' });
    }
    log.warn({ id: plan.id, reason: why }, 'falling back to veth+tcx');
    return tryCreate(datapaths.veth, `auto fallback: ${why}`);
  }
}

// Slot candidates tried before giving up: the first is a hash of the id,
// so concurrent setups rarely meet.
const SLOT_TRIES = 64;

// The slot an id tries first.
export const firstSlot = (id: string): number => createHash('sha256').update(id).digest().readUInt32LE(0) % abi.MAX_SLOTS;

// Creates the pair at the first free slot from firstSlot(id) on: the
// kernel refuses an ifindex in use (`inUse` tells that error from others),
// which makes the device itself the slot's claim. Returns the slot.
export function createInFreeSlot(id: string, create: (slot: number) => void, inUse: (err: unknown, slot: number) => boolean): number {
  const start = firstSlot(id);
  for (let i = 0; i < SLOT_TRIES; i++) {
    const slot = (start + i) % abi.MAX_SLOTS;
    try {
      create(slot);
      return slot;
    } catch (err) {
      if (!inUse(err, slot)) throw err;
    }
  }
  throw new NkitError('EKERNEL', `container ${id}: no free device slot: ifindexes ${abi.slotIfindex(start)} to ${abi.slotIfindex((start + SLOT_TRIES - 1) % abi.MAX_SLOTS)} are all in use`, {
    hint: `nkit gives host devices ifindexes ${abi.IFINDEX_BASE}-${abi.IFINDEX_BASE + abi.MAX_SLOTS - 1}; see which devices hold them (ip -o link) and run \`nkit gc\``,
  });
}

// Returns the pending slot write: its grace periods pass while setup goes
// on; wait() before the container is ready.
function attachPolicy(plan: ContainerPlan, rec: ContainerRecord, dp: Datapath, ifindex: number, addrs: AddressPlan[], policy: CompiledPolicy, cfg: LoadedConfig, log: Logger): SlotWrite {
  const slot = rec.bpf.slot;
  if (slot === undefined || abi.slotIfindex(slot) !== ifindex) {
    throw new NkitError('EINTERNAL', `container ${plan.id}: device ${plan.primary} has ifindex ${ifindex}, not the one of its slot ${slot}`);
  }
  let shared: SharedProgram | undefined;
  let maps: PolicyMapFds | undefined;
  try {
    const s = openShared(cfg.bpffsDir, cfg.runDir);
    shared = s;
    rec.bpf.shared = s.dir;
    if (s.loaded) log.info({ id: plan.id, dir: s.dir }, 'loaded and pinned the policy programs (the first container of this nkit)');
    faultPoint('after-bpf-load');
    ensureDir(rec.bpf.pinDir, 'BPF pin');
    const pin = (name: string): string => {
      rec.bpf.pins.push(name);
      return path.join(rec.bpf.pinDir, name);
    };
    const m = createContainerMaps(cfg.conntrackSize);
    maps = m;
    for (const [k, name] of Object.entries(MAP_PINS) as Array<[keyof PolicyMapFds, string]>) pinMap(m[k], pin(name));
    const r = installPolicy(m, policy, { ...deviceCfg(dp.isL2(plan.mode), plan.policy.name, addrs), captureTag: ifindex });
    const fill = withSlots(cfg.runDir, `fill slot ${slot}`, () => startFillSlot(s.slots, slot, m));
    attachAndPin(s.progs.egress, ifindex, dp.attach.egress, pin('link_egress'));
    attachAndPin(s.progs.ingress, ifindex, dp.attach.ingress, pin('link_ingress'));
    log.debug({ id: plan.id, slot, pins: rec.bpf.pins, entries: r.entries, sets: policy.sets }, 'policy attached');
    return fill;
  } finally {
    if (maps) closeMaps(maps);
    if (shared) closeShared(shared);
  }
}

// The per-device part of the program's config.
export function deviceCfg(l2: boolean, policyName: string, addrs: AddressPlan[]): DeviceCfg {
  const a4 = addrs.find((a) => a.family === 4);
  const a6 = addrs.find((a) => a.family === 6);
  return {
    // netkit is an ethernet-type device in both modes (ether_setup; l3 mode
    // only adds NOARP and a zero MAC), so every datapath carries 14 bytes
    // of ethernet header in front of the IP header.
    l3Offset: 14,
    // deny-all is the device's own blackhole: nothing at all, not even ARP.
    neigh: l2 && policyName !== 'deny-all',
    ...(a4 ? { addr4: a4.container.bytes } : {}),
    ...(a6 ? { addr6: a6.container.bytes } : {}),
  };
}

// The NUMA plan for this container (reads sysfs, touches nothing). A bad
// numa/queues setting is an error; what the planner merely warns about is
// logged.
function planNumaFor(cfg: LoadedConfig, cpuset: number[] | undefined, log: Logger, id: string): HostNumaPlan {
  const settings = numaSettings(cfg);
  const r = planHostNuma({
    settings,
    sysfsRoot: settings.sysfsRoot,
    ...(settings.uplink ? { uplink: settings.uplink } : {}),
    ...(cpuset ? { cpuset } : {}),
    defaultRouteDevice: () => withNetlink(-1, (s) => defaultRouteDevice(s)),
  });
  for (const w of r.plan.warnings) log.warn({ id, numa: r.plan.node }, w);
  return r;
}

// Writes XPS/RPS masks on both devices, each through its own namespace's
// sysfs. NUMA placement is an optimisation: a failed write is logged and
// recorded, it does not fail the container.
function applyNumaMasks(numa: HostNumaPlan, queues: number, plan: ContainerPlan, nsFd: number, log: Logger): NumaRecord {
  // The devices may have fewer queues than planned (a kernel limit): one
  // XPS mask per queue that exists.
  const p = queues === numa.plan.queues ? numa.plan : { ...numa.plan, queues, xps: numa.plan.xps.slice(0, queues) };
  const warnings = queues === numa.plan.queues ? p.warnings : [...p.warnings, `the kernel took ${queues} of ${numa.plan.queues} planned queues`];
  const rec: NumaRecord = { node: p.node, cpus: p.cpus, queues: p.queues, xps: p.xps, rps: p.rps, reason: p.reason, warnings, applied: true };
  const errors: string[] = [];
  const own = fs.openSync('/proc/thread-self/ns/net', 'r');
  try {
    for (const [fd, dev, side] of [[own, plan.primary, 'host'], [nsFd, plan.peer, 'container']] as const) {
      const writes = maskWrites(p, dev);
      if (!writes.length) continue;
      const res = addon().writeSysfsInNetns(fd, writes.map((w) => [w.file, w.value]));
      res.forEach((errno, i) => {
        // No rps_cpus at all means a kernel without CONFIG_RPS: nothing to set.
        if (errno && !(errno === 2 && writes[i]!.file.endsWith('rps_cpus'))) errors.push(`${side} ${writes[i]!.file} = ${writes[i]!.value}: ${errnoText(errno)}`);
      });
    }
  } catch (err) {
    errors.push((err as Error).message);
  } finally {
    fs.closeSync(own);
  }
  if (errors.length) {
    rec.applied = false;
    rec.errors = errors;
    log.warn({ id: plan.id, errors }, 'could not write every XPS/RPS mask');
  }
  return rec;
}

const fam = (f: 4 | 6): number => (f === 4 ? C.AF_INET : C.AF_INET6);

function addrReq(index: number, family: 4 | 6, a: { bytes: Buffer; prefixLen: number }, host: boolean) {
  // No duplicate address detection: the addresses are ours by lease, and a
  // tentative address would make the first packets fail.
  const flags = family === 6 ? C.IFA_F_NODAD | (host ? C.IFA_F_NOPREFIXROUTE : 0) : 0;
  return { index, family: fam(family), address: a.bytes, prefixLen: a.prefixLen, flags };
}

// Inside the container: addresses, link up, default routes via eth0.
function configureContainerSide(s: NetlinkSocket, plan: ContainerPlan, addrs: AddressPlan[]): void {
  const eth = getLink(s, { name: plan.peer });
  if (!eth) throw new NkitError('EKERNEL', `container ${plan.id}: ${plan.peer} missing in the container namespace after creation`);
  const lo = getLink(s, { name: 'lo' });
  if (lo && !(lo.flags & C.IFF_UP)) setLink(s, { index: lo.index, up: true }, 'lo (container)');
  for (const a of addrs) {
    addAddress(s, addrReq(eth.index, a.family, a.container, false), `${a.container.address}/${a.container.prefixLen} on ${plan.peer} (container)`);
  }
  setLink(s, { index: eth.index, up: true }, `${plan.peer} (container)`);
  for (const a of addrs) {
    addRoute(
      s,
      { family: fam(a.family), dst: null, dstLen: 0, oif: eth.index, scope: a.family === 4 ? C.RT_SCOPE_LINK : C.RT_SCOPE_UNIVERSE },
      `default dev ${plan.peer} (IPv${a.family}, container)`,
    );
  }
}
