// Directories nkit creates under the configured runDir and bpffsDir (and
// beside the socket and log file): created on first use, mode 0700. A path
// that cannot be one (a regular file on the way, a read-only mount) is an
// operator's error with a clear message, never an unexpected crash.
import * as fs from 'node:fs';
import { NkitError } from './errors';

export function ensureDir(dir: string, what: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new NkitError('ECONFIG', `cannot create the ${what} directory ${dir}: ${e.code ?? e.message}`, {
      cause: err,
      ...(typeof e.errno === 'number' ? { errno: Math.abs(e.errno) } : {}),
      syscall: 'mkdir',
      hint: e.code === 'ENOTDIR' || e.code === 'EEXIST' ? 'a file stands where a directory must be: check runDir, bpffsDir and logFile in the config' : 'check runDir, bpffsDir and logFile in the config and the mounts under them',
    });
  }
}
