// `nkit capture`: a tap on a container's policy program. The program copies
// each packet (up to 256 bytes) with its verdict and reason into the host's
// capture ring (one per host, beside the shared programs) while the
// container's capture flags are set; this reads the
// ring, keeps the container's packets and writes pcapng with one comment
// per packet ("egress drop_policy"). Dropped packets are included: traffic
// the policy drops, or BPF redirects, never shows up in tcpdump on the host
// devices.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as abi from '../bpf/abi';
import { sharedEventsPath } from '../bpf/shared';
import { pcapngHeader, pcapngPacket } from '../capture/pcapng';
import { Config } from '../config/config';
import { NkitError, asNkitError } from '../errors';
import { addon } from '../native';
import { withLock } from './lock';
import { readyRecord } from './policy-ops';
import { containerLockPath } from './teardown';

export interface CaptureOptions {
  dir: 'ingress' | 'egress' | 'both';
  /** Stop after this many packets (0: no limit). */
  count: number;
  /** Stop after this many seconds (0: no limit). */
  timeoutS: number;
  file: string;
  /** Set by the caller (e.g. on SIGINT) to stop early. */
  stop?: { requested: boolean };
}

const SLOT_NAMES = Object.fromEntries(Object.entries(abi.COUNTER_SLOTS).map(([k, v]) => [v, k]));

// Sets or clears capture bits in the container's config entry.
function setCaptureFlags(cfg: Config, id: string, pinDir: string, bits: number, on: boolean): void {
  withLock(containerLockPath(cfg.runDir, id), 30_000, `switch capture for ${id}`, () => {
    const a = addon();
    const fd = a.bpfObjGet(path.join(pinDir, 'map_cfg'));
    try {
      const cur = a.bpfMapLookup(fd, Buffer.alloc(4), abi.CFG_SIZE);
      if (!cur) throw new NkitError('ESTATE', `container ${id}: its config map is empty`);
      const c = abi.decodeCfg(cur);
      c.flags = on ? c.flags | bits : c.flags & ~bits;
      a.bpfMapUpdate(fd, Buffer.alloc(4), abi.encodeCfg(c), 0);
    } finally {
      a.closeFd(fd);
    }
  });
}

export interface CaptureResult {
  packets: number;
  file: string;
}

export async function capture(cfg: Config, id: string, o: CaptureOptions): Promise<CaptureResult> {
  const rec = readyRecord(cfg, id);
  if (rec.primary.ifindex === undefined) throw new NkitError('ESTATE', `container ${id}: no device index in its record`);
  if (!rec.bpf.shared) throw new NkitError('ESTATE', `container ${id}: its record names no shared programs (set up by an older nkit: restart the container)`);
  const a = addon();
  let ringFd: number;
  const ringPath = sharedEventsPath(rec.bpf.shared);
  try {
    ringFd = a.bpfObjGet(ringPath);
  } catch (err) {
    throw asNkitError(err, 'ESTATE', `container ${id}: no capture ring at ${ringPath}`);
  }
  const bits = (o.dir !== 'egress' ? abi.CFG_F_CAPTURE_INGRESS : 0) | (o.dir !== 'ingress' ? abi.CFG_F_CAPTURE_EGRESS : 0);
  const out = fs.openSync(o.file, 'w', 0o600);
  const ring = a.ringbufOpen(ringFd);
  let packets = 0;
  // bpf_ktime_get_ns() and process.hrtime() both count CLOCK_MONOTONIC.
  const wallOffsetNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  setCaptureFlags(cfg, id, rec.bpf.pinDir, bits, true);
  try {
    fs.writeSync(out, pcapngHeader(abi.CAPTURE_SNAPLEN, rec.primary.name));
    const deadline = o.timeoutS > 0 ? Date.now() + o.timeoutS * 1000 : Infinity;
    while (!o.stop?.requested && Date.now() < deadline && (o.count === 0 || packets < o.count)) {
      for (const raw of a.ringbufPoll(ring, 100)) {
        const e = abi.decodeEvent(raw);
        if (e.tag !== rec.primary.ifindex || !(bits & (e.dir === abi.DIR_INGRESS ? abi.CFG_F_CAPTURE_INGRESS : abi.CFG_F_CAPTURE_EGRESS))) continue;
        if (o.count > 0 && packets >= o.count) break;
        const dir = e.dir === abi.DIR_INGRESS ? 'ingress' : 'egress';
        const why = `${SLOT_NAMES[e.slot] ?? `slot ${e.slot}`}${e.rule ? ` (${dir} rule [${e.rule - 1}])` : ''}`;
        fs.writeSync(out, pcapngPacket((e.tsNs + wallOffsetNs) / 1000n, e.data, e.len, `nkit ${id} ${dir} ${why}`));
        packets++;
      }
      // Let signal handlers run between polls.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    setCaptureFlags(cfg, id, rec.bpf.pinDir, bits, false);
    a.ringbufClose(ring);
    a.closeFd(ringFd);
    fs.closeSync(out);
  }
  return { packets, file: o.file };
}
