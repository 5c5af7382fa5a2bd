// nkit's configuration: where it comes from, validation with clear errors,
// and the semantic checks JSON Schema cannot express (subnets).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NkitError } from '../errors';
import { Prefix, parsePrefix } from '../ipam/cidr';
import { packageRoot } from '../native';
import { parseJson, validate } from '../spec/validate';

export type DatapathChoice = 'auto' | 'netkit' | 'veth';
export type LinkMode = 'l3' | 'l2';

export interface NetworkConfig {
  subnets: string[];
  mtu: number;
  mode: LinkMode;
}

export interface Config {
  datapath: DatapathChoice;
  runDir: string;
  bpffsDir: string;
  policiesDir: string;
  policy: string;
  conntrackSize: number;
  logLevel: string;
  logFile?: string;
  networks: Record<string, NetworkConfig>;
  /** NUMA placement: "auto" (default), "off", or a node number (see src/numa/plan.ts). */
  numa?: 'auto' | 'off' | number;
  /** Queues per device: "auto" (default: one per CPU of the chosen node, at most maxQueues) or 1..64. */
  queues?: 'auto' | number;
  /** Cap for queues "auto" (default 8). */
  maxQueues?: number;
  /** The uplink NIC whose NUMA node is followed (default: the default route's device). */
  uplink?: string;
  /** Where sysfs is mounted (default "/sys"; tests use fake trees). */
  sysfsRoot?: string;
}

export interface LoadedConfig extends Config {
  /** The file it came from, or "(built-in defaults)". */
  source: string;
}

export const SYSTEM_CONFIG = '/etc/nkit/config.json';

// Picks the config file: --config, then NKIT_CONFIG, then /etc/nkit/config.json
// when it exists, then the package's config/nkit.json.
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv): { file: string; explicit: boolean } {
  if (flag) return { file: path.resolve(flag), explicit: true };
  if (env.NKIT_CONFIG) return { file: path.resolve(env.NKIT_CONFIG), explicit: true };
  if (fs.existsSync(SYSTEM_CONFIG)) return { file: SYSTEM_CONFIG, explicit: false };
  return { file: path.join(packageRoot(), 'config', 'nkit.json'), explicit: false };
}

// Parses and validates config text (pure); `source` names it in errors.
export function parseConfig(text: string, source: string): LoadedConfig {
  const what = `config ${source}`;
  const raw = parseJson(text, what, 'ECONFIG');
  const cfg = validate<Config>('config', raw, what, 'ECONFIG');
  for (const [name, net] of Object.entries(cfg.networks)) checkSubnets(net.subnets, `${what}: networks.${name}.subnets`);
  return { ...cfg, source };
}

// Subnets: valid CIDRs, at most one per family, room for a gateway and hosts.
export function checkSubnets(subnets: string[], where: string): Prefix[] {
  const prefixes = subnets.map((s) => {
    try {
      return parsePrefix(s);
    } catch (err) {
      throw new NkitError('ECONFIG', `${where}: ${(err as Error).message}`, { cause: err });
    }
  });
  for (const f of [4, 6] as const) {
    const of = prefixes.filter((p) => p.family === f);
    if (of.length > 1) throw new NkitError('ECONFIG', `${where}: more than one IPv${f} subnet`);
    const max = f === 4 ? 30 : 126;
    if (of[0] && of[0].prefixLen > max) {
      throw new NkitError('ECONFIG', `${where}: IPv${f} subnet /${of[0].prefixLen} is too small (at most /${max}: a gateway and a container)`);
    }
  }
  return prefixes;
}

// Reads, checks ownership/permissions of, and parses a config file.
export function loadConfig(file: string): LoadedConfig {
  let text: string;
  try {
    text = readTrustedFile(file);
  } catch (err) {
    if (err instanceof NkitError) throw err;
    throw new NkitError('ECONFIG', `read config ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: 'pass --config FILE or set NKIT_CONFIG',
    });
  }
  return parseConfig(text, file);
}

// Operator files that steer root's actions must be root's: refuse files that
// others own or can write.
export function checkTrustedFile(file: string): void {
  const st = fs.statSync(file);
  // A FIFO would block the reader forever.
  if (!st.isFile()) throw new NkitError('ECONFIG', `${file} is not a regular file: refusing to use it`);
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    if (st.uid !== 0) throw new NkitError('ECONFIG', `${file} is owned by uid ${st.uid}, not root: refusing to use it`);
    if (st.mode & 0o022) {
      throw new NkitError('ECONFIG', `${file} is group- or world-writable (mode ${(st.mode & 0o777).toString(8)}): refusing to use it`, {
        hint: `chmod go-w ${file}`,
      });
    }
  }
}

// checkTrustedFile, then the text: NkitError when the file is refused, the
// fs error (for the caller to name) when it cannot be read.
export function readTrustedFile(file: string): string {
  checkTrustedFile(file);
  return fs.readFileSync(file, 'utf8');
}

// The log file: logFile, else <runDir>/nkit.log.
export const logFileOf = (cfg: Config): string => cfg.logFile ?? path.join(cfg.runDir, 'nkit.log');
