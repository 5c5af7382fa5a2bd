// Builds (and caches) the small initramfs each VM kernel boots: busybox-static,
// the modules needed to mount the host's root over 9p under an overlay, and
// test/vm/init.sh as /init. Rebuilt whenever one of those inputs changes.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { cpioArchive, CpioEntry } from './cpio';
import { Kernel, sourceDir, VmError } from './kernels';

// 9p and overlay build the guest's root; veth is what the suite's fallback
// tests create. Their dependencies (netfs, 9pnet) come from modules.dep.
export const INITRAMFS_MODULES = ['9pnet_virtio', '9p', 'overlay', 'veth'];

// Bump when the layout of the archive changes without its inputs changing.
const FORMAT = 2;

export const BUSYBOX = '/bin/busybox';

function moduleName(path: string): string {
  return basename(path).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

// The modules to load, dependencies first, as paths relative to the tree.
export function moduleLoadOrder(modulesDep: string, wanted: string[]): string[] {
  const deps = new Map<string, { path: string; deps: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const rest = line.slice(colon + 1).trim();
    deps.set(moduleName(path), { path, deps: rest ? rest.split(/\s+/) : [] });
  }
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, chain: string[]): void => {
    const key = name.replace(/-/g, '_');
    if (seen.has(key)) return;
    const entry = deps.get(key);
    if (!entry) {
      throw new VmError(`module ${name} is not in modules.dep${chain.length ? ` (needed by ${chain.join(' <- ')})` : ''}`,
        'is it built in (=y) in this kernel? then drop it from INITRAMFS_MODULES');
    }
    seen.add(key);
    for (const d of entry.deps) visit(moduleName(d), [name, ...chain]);
    order.push(entry.path);
  };
  for (const w of wanted) visit(w, []);
  return order;
}

function depsOf(modulesDep: string, rel: string): string[] {
  const line = modulesDep.split('\n').find((l) => l.startsWith(`${rel}:`));
  const rest = line ? line.slice(rel.length + 1).trim() : '';
  return rest ? rest.split(/\s+/) : [];
}

function decompress(path: string): Buffer {
  if (path.endsWith('.xz')) return execFileSync('xz', ['-dc', path], { maxBuffer: 1 << 28 });
  if (path.endsWith('.zst')) return execFileSync('zstd', ['-dcq', path], { maxBuffer: 1 << 28 });
  if (path.endsWith('.gz')) return gunzipSync(readFileSync(path));
  return readFileSync(path);
}

// A dynamically linked busybox (Debian's "busybox" package) cannot run from
// the initramfs: it needs busybox-static. Checks for an ELF PT_INTERP.
export function isStaticElf(bin: Buffer): boolean {
  if (bin.length < 64 || bin.readUInt32BE(0) !== 0x7f454c46 || bin[4] !== 2) return false;
  const phoff = Number(bin.readBigUInt64LE(0x20));
  const phentsize = bin.readUInt16LE(0x36);
  const phnum = bin.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (bin.readUInt32LE(phoff + i * phentsize) === 3) return false;
  }
  return true;
}

// The archive for a kernel, built on first use and kept beside the kernel.
export function ensureInitramfs(kernel: Kernel): string {
  if (!existsSync(BUSYBOX)) {
    throw new VmError(`${BUSYBOX} is missing`, 'apt-get install busybox-static');
  }
  const busybox = readFileSync(BUSYBOX);
  if (!isStaticElf(busybox)) {
    throw new VmError(`${BUSYBOX} is not statically linked`, 'apt-get install busybox-static');
  }
  const init = readFileSync(join(sourceDir(), 'init.sh'));
  const depText = readFileSync(join(kernel.modules, 'modules.dep'), 'utf8');
  const order = moduleLoadOrder(depText, INITRAMFS_MODULES);

  const key = createHash('sha256')
    .update(JSON.stringify({ FORMAT, release: kernel.release, packages: kernel.packages, order }))
    .update(busybox).update(init).digest('hex').slice(0, 16);
  const out = join(kernel.dir, `initramfs-${key}.cpio`);
  if (existsSync(out)) return out;

  const moddir = `lib/modules/${kernel.release}`;
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'etc', 'lib', 'lib/modules', moddir, 'proc', 'sys', 'lower', 'rw', 'newroot', 'devlinks']
      .map((path): CpioEntry => ({ kind: 'dir', path })),
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { kind: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'file', path: 'init', data: init, mode: 0o755 },
    // Copied into the guest's devtmpfs, which has none of them.
    { kind: 'symlink', path: 'devlinks/fd', target: '/proc/self/fd' },
    { kind: 'symlink', path: 'devlinks/stdin', target: '/proc/self/fd/0' },
    { kind: 'symlink', path: 'devlinks/stdout', target: '/proc/self/fd/1' },
    { kind: 'symlink', path: 'devlinks/stderr', target: '/proc/self/fd/2' },
  ];
  // Flat, decompressed, with a modules.dep of their own for busybox modprobe.
  const flat = (rel: string): string => moduleName(rel) + '.ko';
  const depLines: string[] = [];
  for (const rel of order) {
    entries.push({ kind: 'file', path: `${moddir}/${flat(rel)}`, data: decompress(join(kernel.modules, rel)) });
    depLines.push(`${flat(rel)}: ${(depsOf(depText, rel)).map(flat).join(' ')}`.trimEnd());
  }
  entries.push(
    { kind: 'file', path: `${moddir}/modules.dep`, data: Buffer.from(depLines.join('\n') + '\n') },
    { kind: 'file', path: 'lib/modules/load', data: Buffer.from(INITRAMFS_MODULES.join(' ') + '\n') },
  );

  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, cpioArchive(entries));
  renameSync(tmp, out);
  // Older archives of this kernel are stale now.
  for (const f of readdirSync(kernel.dir)) {
    if (/^initramfs-[0-9a-f]+\.cpio$/.test(f) && join(kernel.dir, f) !== out) {
      try { unlinkSync(join(kernel.dir, f)); } catch { /* a parallel run removed it */ }
    }
  }
  return out;
}
