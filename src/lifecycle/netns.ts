// Finding the container's network namespace: the bundle's explicit path if
// it has one, else /proc/<pid>/ns/net of the container's process.
import * as fs from 'node:fs';
import { NkitError } from '../errors';
import { BundleInfo } from '../spec/oci';
import { NetnsIdentity } from './record';

export interface OpenNetns {
  fd: number;
  identity: NetnsIdentity;
}

// Opens the container's netns; refuses the caller's own namespace, because
// that would put the container's eth0 on the host.
export function openContainerNetns(id: string, pid: number | undefined, bundle: BundleInfo): OpenNetns {
  if (!bundle.netns.present) {
    throw new NkitError('EINPUT', `container ${id} shares the runtime's network namespace (no linux.namespaces entry of type network)`, {
      hint: 'nkit needs a container with its own network namespace',
    });
  }
  let nsPath: string;
  if (bundle.netns.path) {
    nsPath = bundle.netns.path;
  } else {
    if (!pid) {
      throw new NkitError('EINPUT', `container ${id}: the OCI state has no pid`, {
        hint: 'run nkit-oci-hook at createRuntime or prestart, where the runtime passes the container pid',
      });
    }
    nsPath = `/proc/${pid}/ns/net`;
  }
  const own = fs.statSync('/proc/thread-self/ns/net');
  const notNamespace = (): NkitError =>
    new NkitError('EINPUT', `container ${id}: ${nsPath} is not a namespace file`, {
      hint: 'the network namespace path must name a namespace, e.g. /run/netns/NAME or /proc/PID/ns/net',
    });
  let fd: number;
  try {
    // The path comes from the bundle: open nothing but a namespace file (on
    // nsfs, like our own), and never block: a FIFO there hung the hook
    // (found by test/fuzz).
    if (fs.statSync(nsPath).dev !== own.dev) throw notNamespace();
    fd = fs.openSync(nsPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (err) {
    if (err instanceof NkitError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' && !bundle.netns.path ? `process ${pid} has exited` : (err as Error).message;
    throw new NkitError('EINPUT', `container ${id}: cannot open network namespace ${nsPath}: ${why}`, { cause: err });
  }
  const st = fs.fstatSync(fd);
  if (st.dev !== own.dev) {
    // Replaced between the check and the open.
    fs.closeSync(fd);
    throw notNamespace();
  }
  if (st.dev === own.dev && st.ino === own.ino) {
    fs.closeSync(fd);
    throw new NkitError('EINPUT', `container ${id}: ${nsPath} is the runtime's own network namespace`, {
      hint: 'nkit needs a container with its own network namespace',
    });
  }
  return { fd, identity: { path: nsPath, dev: st.dev, ino: st.ino } };
}

// Opens the namespace a record names, if it is still that namespace.
export function openRecordedNetns(id: string, identity: NetnsIdentity): number {
  let fd: number;
  try {
    fd = fs.openSync(identity.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (err) {
    throw new NkitError('ESTATE', `container ${id}: cannot open its network namespace ${identity.path}: ${(err as Error).message}`, { cause: err });
  }
  const st = fs.fstatSync(fd);
  if (st.dev !== identity.dev || st.ino !== identity.ino) {
    fs.closeSync(fd);
    throw new NkitError('ESTATE', `container ${id}: ${identity.path} is no longer its network namespace`);
  }
  return fd;
}

// True while the namespace a record names still exists at its path.
export function netnsAlive(identity: NetnsIdentity): boolean {
  try {
    const st = fs.statSync(identity.path);
    return st.dev === identity.dev && st.ino === identity.ino;
  } catch {
    return false;
  }
}

export const sameNetns = (a: NetnsIdentity, b: NetnsIdentity): boolean => a.dev === b.dev && a.ino === b.ino;
