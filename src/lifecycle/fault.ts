// Fault injection for tests: NKIT_FAULT=<point> kills the process with
// SIGKILL when it reaches that point; NKIT_FAULT=fail:<point> throws there.
import { NkitError } from '../errors';

// Called at each named step; does nothing unless NKIT_FAULT names it.
export function faultPoint(point: string, env: NodeJS.ProcessEnv = process.env): void {
  const f = env.NKIT_FAULT;
  if (!f) return;
  if (f === point) process.kill(process.pid, 'SIGKILL');
  if (f === `fail:${point}`) throw new NkitError('EINTERNAL', `injected failure at ${point} (NKIT_FAULT)`);
}
