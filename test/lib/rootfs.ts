// A minimal busybox root file system for test containers.
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Debian's busybox-static: statically linked, so the rootfs needs no libraries. */
export const BUSYBOX = '/bin/busybox';

/** The applets linked in /bin by default: what the e2e tests run inside containers. */
export const DEFAULT_APPLETS: readonly string[] = [
  'sh', 'ip', 'ping', 'ping6', 'sleep', 'cat', 'ls', 'echo', 'wget', 'nc',
  'ifconfig', 'route', 'true', 'false', 'readlink', 'hostname', 'mkdir',
];

/** Options for buildRootfs. */
export interface RootfsOptions {
  /** Extra applets to link besides DEFAULT_APPLETS. */
  applets?: readonly string[];
  /** Source binary (default /bin/busybox). */
  busybox?: string;
}

/**
 * Fill `dir` (created if missing) with /bin/busybox plus applet symlinks, a root-only
 * /etc/passwd and /etc/group, and the empty mount points runc/crun mount over.
 * Building one costs a 2 MB copy (a few ms), so each bundle gets its own and no
 * cache (module state) is needed.
 */
export async function buildRootfs(dir: string, opts: RootfsOptions = {}): Promise<string> {
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root', 'run']) {
    await mkdir(join(dir, d), { recursive: true });
  }
  await chmod(join(dir, 'tmp'), 0o1777);
  await copyFile(opts.busybox ?? BUSYBOX, join(dir, 'bin', 'busybox'));
  await chmod(join(dir, 'bin', 'busybox'), 0o755);
  const applets = new Set([...DEFAULT_APPLETS, ...(opts.applets ?? [])]);
  for (const a of applets) await symlink('busybox', join(dir, 'bin', a));
  await writeFile(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\n');
  await writeFile(join(dir, 'etc', 'hosts'), '127.0.0.1 localhost\n::1 localhost\n');
  return dir;
}
