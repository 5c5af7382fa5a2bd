// Writes a "newc" cpio archive, the format the kernel unpacks as initramfs.
// Written here rather than with cpio(1) so the archive needs no staging
// directory, holds device nodes without mknod, and is byte-for-byte
// reproducible (fixed owner, mtime and inode numbers).

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(fields: number[], name: string): Buffer {
  const hex = fields.map((f) => f.toString(16).padStart(8, '0')).join('');
  const nameBuf = Buffer.from(name + '\0');
  const head = Buffer.from('070701' + hex, 'ascii');
  return Buffer.concat([head, nameBuf, Buffer.alloc(pad4(head.length + nameBuf.length))]);
}

// Parents must come before children: the kernel does not create missing
// directories while unpacking.
export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    let mode: number;
    let data: Buffer = Buffer.alloc(0);
    let rdevMajor = 0;
    let rdevMinor = 0;
    let nlink = 1;
    switch (e.kind) {
      case 'dir':
        mode = S_IFDIR | (e.mode ?? 0o755);
        nlink = 2;
        break;
      case 'file':
        mode = S_IFREG | (e.mode ?? 0o644);
        data = e.data;
        break;
      case 'symlink':
        mode = S_IFLNK | 0o777;
        data = Buffer.from(e.target);
        break;
      case 'chardev':
        mode = S_IFCHR | (e.mode ?? 0o600);
        rdevMajor = e.major;
        rdevMinor = e.minor;
        break;
    }
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    const fields = [ino++, mode, 0, 0, nlink, 0, data.length, 0, 0, rdevMajor, rdevMinor,
      Buffer.byteLength(name) + 1, 0];
    parts.push(header(fields, name), data, Buffer.alloc(pad4(data.length)));
  }
  parts.push(header([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 'TRAILER!!!'.length + 1, 0], 'TRAILER!!!'));
  return Buffer.concat(parts);
}
