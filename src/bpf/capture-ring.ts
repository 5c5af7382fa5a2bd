// The host's one capture ring: every container's object reuses the ring
// pinned at <bpffsDir>/_capture_ring (bpffs refuses dots in names; ids
// never start with _), so `nkit capture` costs a fixed 1 MiB
// whatever the number of containers. The first setup pins its own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withLock } from '../lifecycle/lock';
import { addon } from '../native';

export const captureRingPath = (bpffsDir: string): string => path.join(bpffsDir, '_capture_ring');

// fd of the shared ring, or undefined when none is pinned yet (the caller
// then loads an object and pins its ring with pinCaptureRing).
export function openCaptureRing(bpffsDir: string): number | undefined {
  const p = captureRingPath(bpffsDir);
  return fs.existsSync(p) ? addon().bpfObjGet(p) : undefined;
}

// Runs fn with the shared ring's fd (or undefined) under a host-wide lock,
// so two first setups do not both pin one.
export function withCaptureRing<T>(bpffsDir: string, runDir: string, fn: (ring: number | undefined, pin: (fd: number) => void) => T): T {
  return withLock(path.join(runDir, 'locks', '.capture-ring.lock'), 10_000, 'open the capture ring', () => {
    const ring = openCaptureRing(bpffsDir);
    try {
      return fn(ring, (fd) => addon().bpfObjPin(fd, captureRingPath(bpffsDir)));
    } finally {
      if (ring !== undefined) addon().closeFd(ring);
    }
  });
}

// Unpins the shared ring when no container is left (`idle()`, checked under
// the lock), so an idle host keeps nothing of nkit's in bpffs.
export function releaseCaptureRingIfIdle(bpffsDir: string, runDir: string, idle: () => boolean): string[] {
  const p = captureRingPath(bpffsDir);
  if (!fs.existsSync(p)) return [];
  return withLock(path.join(runDir, 'locks', '.capture-ring.lock'), 10_000, 'release the capture ring', () => {
    if (!idle() || !fs.existsSync(p)) return [];
    fs.rmSync(p, { force: true });
    return ['pin _capture_ring'];
  });
}
