// Host sysctls (in the caller's network namespace: /proc/sys/net is per
// namespace and resolves to the opener's). Changes nkit makes to global
// ones (forwarding) are remembered in <runDir>/host-sysctls.json with the
// value they had, and restored when the last container is gone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asNkitError } from '../errors';
import { Logger } from '../log';
import { withLock } from './lock';

export interface SysctlChange {
  path: string;
  previous: string;
  value: string;
}

// Sets a sysctl to value unless it already has it; returns the change made.
export function ensureSysctl(file: string, value: string): SysctlChange | undefined {
  try {
    const previous = fs.readFileSync(file, 'utf8').trim();
    if (previous === value) return undefined;
    fs.writeFileSync(file, value);
    return { path: file, previous, value };
  } catch (err) {
    throw asNkitError(err, 'EKERNEL', `set sysctl ${file} to ${value}`);
  }
}

const stateFile = (runDir: string): string => path.join(runDir, 'host-sysctls.json');
const lockFile = (runDir: string): string => path.join(runDir, 'locks', '.host-sysctls.lock');

function readState(runDir: string): SysctlChange[] {
  try {
    return JSON.parse(fs.readFileSync(stateFile(runDir), 'utf8')) as SysctlChange[];
  } catch {
    return [];
  }
}

// ensureSysctl for a host-wide setting, remembering the first value seen.
export function ensureHostSysctl(runDir: string, file: string, value: string): SysctlChange | undefined {
  return withLock(lockFile(runDir), 10_000, `set ${file}`, () => {
    const change = ensureSysctl(file, value);
    if (change) {
      const state = readState(runDir);
      if (!state.some((s) => s.path === file)) {
        state.push(change);
        const tmp = `${stateFile(runDir)}.tmp-${process.pid}`;
        fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
        fs.renameSync(tmp, stateFile(runDir));
      }
    }
    return change;
  });
}

// When no container is left (`idle()` says so, checked under the lock),
// puts back every remembered sysctl that still has the value nkit set.
// Returns what it restored.
export function restoreHostSysctlsIfIdle(runDir: string, idle: () => boolean, log: Logger): string[] {
  if (!fs.existsSync(stateFile(runDir))) return [];
  return withLock(lockFile(runDir), 10_000, 'restore host sysctls', () => {
    if (!idle()) return [];
    const restored: string[] = [];
    for (const s of readState(runDir)) {
      try {
        // Someone else changed it since: theirs now, leave it.
        if (fs.readFileSync(s.path, 'utf8').trim() !== s.value) continue;
        fs.writeFileSync(s.path, s.previous);
        restored.push(`sysctl ${s.path}=${s.previous}`);
      } catch (err) {
        log.warn({ sysctl: s.path, err }, 'could not restore a sysctl');
      }
    }
    fs.rmSync(stateFile(runDir), { force: true });
    if (restored.length) log.info({ restored }, 'no container left: restored host sysctls');
    return restored;
  });
}
