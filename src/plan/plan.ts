// The pure plan of a container's network: which network, names, MTU, mode,
// policy, MACs, and (once leases exist) the addresses and routes on each side.
import { createHash } from 'node:crypto';
import { Config, LinkMode, checkSubnets } from '../config/config';
import { NkitError } from '../errors';
import { Family, Prefix, addressBytes, parseAddress } from '../ipam/cidr';
import { Lease } from '../ipam/ipam';
import { validate } from '../spec/validate';
import { PEER_IFNAME, primaryName, validateContainerId, validateName } from './naming';

export const ANNOTATION_NETWORK = 'org.nkit.network';
export const ANNOTATION_POLICY = 'org.nkit.policy';
export const DEFAULT_NETWORK = 'default';

export interface ContainerPlan {
  id: string;
  network: string;
  subnets: Prefix[];
  mtu: number;
  mode: LinkMode;
  primary: string;
  peer: string;
  /** Explicit MACs for L2 devices, so udev's MACAddressPolicy leaves them alone. */
  macs: { primary: Buffer; peer: Buffer };
  /** The policy's name and where the choice came from (loaded by setup). */
  policy: { name: string; source: string };
}

// Plans a container from the config and its annotations (already merged
// from the OCI state and the bundle).
export function planContainer(id: string, cfg: Config, annotations: Record<string, string>): ContainerPlan {
  validateContainerId(id);
  validate('annotations', annotations, `container ${id}: annotations`);
  const network = annotations[ANNOTATION_NETWORK] ?? DEFAULT_NETWORK;
  // Own keys only: "constructor" passes the name pattern and would find
  // Object.prototype's (found by test/fuzz).
  const net = Object.hasOwn(cfg.networks, network) ? cfg.networks[network] : undefined;
  if (!net) {
    const source = annotations[ANNOTATION_NETWORK] ? `annotation ${ANNOTATION_NETWORK}` : 'the default network name';
    throw new NkitError('EINPUT', `container ${id}: unknown network "${network}" (from ${source})`, {
      hint: `configured networks: ${Object.keys(cfg.networks).join(', ')}`,
    });
  }
  const fromAnnotation = annotations[ANNOTATION_POLICY];
  const source = fromAnnotation ? `annotation ${ANNOTATION_POLICY}` : 'config "policy"';
  const policy = { name: validateName('policy', fromAnnotation ?? cfg.policy, source), source };
  return {
    id,
    network,
    subnets: checkSubnets(net.subnets, `networks.${network}.subnets`),
    mtu: net.mtu,
    mode: net.mode,
    primary: primaryName(id),
    peer: PEER_IFNAME,
    macs: { primary: macFor(id, 'primary'), peer: macFor(id, 'peer') },
    policy,
  };
}

// A locally administered unicast MAC derived from the id and the side.
export function macFor(id: string, side: 'primary' | 'peer'): Buffer {
  const h = createHash('sha256').update(`${side}\0${id}`).digest();
  const mac = Buffer.from(h.subarray(0, 6));
  mac[0] = (mac[0]! & 0xfe) | 0x02;
  return mac;
}

export interface AddressPlan {
  family: Family;
  /** The container's address and the subnet's prefix length. */
  container: { address: string; bytes: Buffer; prefixLen: number };
  /** The gateway (network's first address), as a host route /32 or /128. */
  host: { address: string; bytes: Buffer; prefixLen: number };
}

// Addresses for both sides from the IPAM leases.
export function planAddresses(leases: Lease[]): AddressPlan[] {
  return leases.map((l) => {
    const c = parseAddress(l.address);
    const g = parseAddress(l.gateway);
    return {
      family: l.family,
      container: { address: l.address, bytes: addressBytes(c.family, c.value), prefixLen: l.prefixLen },
      host: { address: l.gateway, bytes: addressBytes(g.family, g.value), prefixLen: l.family === 4 ? 32 : 128 },
    };
  });
}
