// The container's CPU pinning from its OCI config.json.
import { NkitError } from '../errors';
import { parseCpuList } from './cpulist';

// The CPUs of linux.resources.cpu.cpus, or undefined when the bundle does not
// pin the container (absent or ""); EINPUT naming `where` when malformed.
export function cpusetOf(spec: unknown, where: string): number[] | undefined {
  const cpu = (spec as { linux?: { resources?: { cpu?: { cpus?: unknown } } } } | null)?.linux?.resources?.cpu;
  const cpus = cpu && typeof cpu === 'object' ? cpu.cpus : undefined;
  if (cpus === undefined || cpus === null) return undefined;
  if (typeof cpus !== 'string') throw new NkitError('EINPUT', `${where}: linux.resources.cpu.cpus must be a string, not ${typeof cpus}`);
  const list = parseCpuList(cpus, `${where}: linux.resources.cpu.cpus`);
  return list.length ? list : undefined;
}
