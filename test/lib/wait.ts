// Poll for kernel state that settles asynchronously (a dying netns takes its devices with it later).
import { setTimeout as sleep } from 'node:timers/promises';

/** Options for waitFor. */
export interface WaitOptions {
  /** Give up after this long (default 5 s). */
  timeoutMs?: number;
  /** Pause between probes (default 50 ms). */
  intervalMs?: number;
}

/**
 * Call `probe` until it returns true, or until the deadline; returns the last
 * answer so a test asserts on it (`t.ok(await waitFor(...), 'gone')`).
 * Why: after a container's last process exits, the kernel tears its netns down in a
 * workqueue (cleanup_net), so a veth/netkit peer's host side vanishes a little later.
 */
export async function waitFor(probe: () => Promise<boolean> | boolean, opts: WaitOptions = {}): Promise<boolean> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
  for (;;) {
    if (await probe()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(opts.intervalMs ?? 50);
  }
}
