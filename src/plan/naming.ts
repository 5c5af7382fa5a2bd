// Names derived from untrusted ids: validation first, then deterministic
// device names (a pure function of the id, as nspawn derives names from the
// machine name).
import { createHash } from 'node:crypto';
import { NkitError } from '../errors';

// OCI runtimes accept [\w+-.]+; we also require a leading alphanumeric (no
// ".", ".." or hidden names) and cap the length, because the id names files,
// bpffs pins and log fields.
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export const MAX_ID_LENGTH = 128;
export const IFNAMSIZ = 16;
export const PEER_IFNAME = 'eth0';

// Throws EINPUT unless id is safe to use as a file name, pin name and log field.
export function validateContainerId(id: unknown): string {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    const shown = typeof id === 'string' ? JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}...` : id) : String(id);
    throw new NkitError('EINPUT', `invalid container id ${shown}`, {
      hint: `ids must match ${ID_RE.source} (letters, digits, _ . + -, at most ${MAX_ID_LENGTH} characters)`,
    });
  }
  return id;
}

// Throws EINPUT unless name is a valid network or policy name.
export function validateName(kind: 'network' | 'policy', name: unknown, source: string): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new NkitError('EINPUT', `invalid ${kind} name ${JSON.stringify(name)} in ${source}`, {
      hint: `${kind} names must match ${NAME_RE.source}`,
    });
  }
  return name;
}

// The host-side device name for a container: "nk" + 12 hex digits of
// sha256(id), 14 characters, within IFNAMSIZ-1.
export function primaryName(id: string): string {
  return `nk${createHash('sha256').update(id).digest('hex').slice(0, 12)}`;
}

// The name of a container's pin directory: bpffs refuses "." in names, and
// ids may hold dots ("web.1"), so a dot is written "%2E" ("%" is not an id
// character, so the mapping is one to one).
export const pinDirName = (id: string): string => validateContainerId(id).replace(/\./g, '%2E');

// The id a pin directory name stands for (undefined: not one of ours).
export function idOfPinDirName(name: string): string | undefined {
  const id = name.replace(/%2E/g, '.');
  return ID_RE.test(id) && pinDirName(id) === name ? id : undefined;
}
