// Why a root-only or tool-dependent test cannot run here (false when it can), for tap's `skip`.
import { existsSync } from 'node:fs';
import { findExecutable } from './exec';

/** A skip reason when the process is not root, else false. */
export function rootSkipReason(): string | false {
  return process.getuid?.() === 0 ? false : 'needs root (network namespaces, mounts, OCI runtimes)';
}

/** A skip reason naming the executables missing from PATH, else false. */
export function toolsSkipReason(tools: readonly string[]): string | false {
  const missing = tools.filter((t) => findExecutable(t) === undefined);
  return missing.length === 0 ? false : `missing ${missing.join(', ')}`;
}

/** A skip reason when the busybox-static binary the test rootfs copies is absent, else false. */
export function busyboxSkipReason(path = '/bin/busybox'): string | false {
  return existsSync(path) ? false : `missing ${path} (Debian package busybox-static)`;
}

/** The first reason among several, or false when none applies. */
export function firstReason(...reasons: (string | false)[]): string | false {
  return reasons.find((r): r is string => r !== false) ?? false;
}
