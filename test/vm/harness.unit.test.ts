// The VM harness's pure parts: argument parsing, the qemu and job command
// lines, NUMA splits, module order and the cpio writer. No root, no qemu.
import t from 'tap';
import { cpioArchive } from './cpio';
import { isStaticElf, moduleLoadOrder } from './initramfs';
import { jobScript, numaArgs } from './qemu';
import { parseArgs, parseMem } from './vm-run';

t.test('parseArgs', async (t) => {
  const a = parseArgs(['--kernel', 'sid', '--timeout', '30', '--numa', '2', '--cpus', '4', '--mem', '2G',
    '--cwd', 'sub', '--env', 'A=1', '--env', 'HOSTVAR', '--', 'ip', '-d', 'link'],
  { HOSTVAR: 'x' }, '/work');
  t.same(a.argv, ['ip', '-d', 'link']);
  t.equal(a.kernel, 'sid');
  t.equal(a.timeoutS, 30);
  t.equal(a.numa, 2);
  t.equal(a.cpus, 4);
  t.equal(a.memMiB, 2048);
  t.equal(a.cwd, '/work/sub');
  t.same(a.env, { A: '1', HOSTVAR: 'x' });
  t.same(parseArgs(['true'], {}, '/').argv, ['true'], 'no -- needed');
  t.throws(() => parseArgs(['--kernel', 'bookworm', '--', 'true'], {}, '/'), /unknown kernel/);
  t.throws(() => parseArgs(['--'], {}, '/'), /no command/);
  t.throws(() => parseArgs(['--bogus', '--', 'true'], {}, '/'), /unknown option/);
  t.equal(parseMem('512'), 512);
  t.throws(() => parseMem('2T'));
});

t.test('jobScript quotes everything', async (t) => {
  const s = jobScript(['sh', '-c', "echo 'a b'; exit 7"], "/it's", { X: 'y z' });
  t.match(s, /^cd -- '\/it'\\''s' \|\|/);
  t.match(s, /exec \/usr\/bin\/env -i -- 'PATH=[^']+' .* 'X=y z' 'sh' '-c' 'echo '\\''a b'\\''; exit 7'/);
  t.throws(() => jobScript([], '/'));
  t.throws(() => jobScript(['true'], '/', { 'A-B': '1' }), /bad environment/);
});

t.test('numaArgs splits CPUs and memory', async (t) => {
  t.same(numaArgs(1, 2, 2048), []);
  const two = numaArgs(2, 2, 3072);
  t.same(two, [
    '-object', 'memory-backend-ram,id=mem0,size=1536M', '-numa', 'node,nodeid=0,cpus=0,memdev=mem0',
    '-object', 'memory-backend-ram,id=mem1,size=1536M', '-numa', 'node,nodeid=1,cpus=1,memdev=mem1',
  ]);
  const four = numaArgs(4, 2, 2050).filter((_, i) => i % 2 === 1);
  t.same(four, [
    'memory-backend-ram,id=mem0,size=512M', 'node,nodeid=0,cpus=0,memdev=mem0',
    'memory-backend-ram,id=mem1,size=512M', 'node,nodeid=1,cpus=1,memdev=mem1',
    'memory-backend-ram,id=mem2,size=512M', 'node,nodeid=2,memdev=mem2',
    'memory-backend-ram,id=mem3,size=514M', 'node,nodeid=3,memdev=mem3',
  ], 'memory-only nodes last, remainder of memory to the last node');
  t.match(numaArgs(2, 5, 1024).join(' '), /nodeid=0,cpus=0-2,.*nodeid=1,cpus=3-4/);
});

t.test('moduleLoadOrder puts dependencies first', async (t) => {
  const dep = [
    'kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz',
    'kernel/net/9p/9pnet.ko.xz: kernel/fs/netfs/netfs.ko.xz',
    'kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz',
    'kernel/fs/netfs/netfs.ko.xz:',
    'kernel/fs/overlayfs/overlay.ko.xz:',
  ].join('\n');
  t.same(moduleLoadOrder(dep, ['9pnet_virtio', '9p', 'overlay']), [
    'kernel/fs/netfs/netfs.ko.xz', 'kernel/net/9p/9pnet.ko.xz', 'kernel/net/9p/9pnet_virtio.ko.xz',
    'kernel/fs/9p/9p.ko.xz', 'kernel/fs/overlayfs/overlay.ko.xz',
  ]);
  t.throws(() => moduleLoadOrder(dep, ['veth']), /veth is not in modules.dep/);
});

t.test('cpioArchive writes newc', async (t) => {
  const a = cpioArchive([
    { kind: 'dir', path: 'bin' },
    { kind: 'file', path: 'bin/x', data: Buffer.from('abc'), mode: 0o755 },
    { kind: 'symlink', path: 'sh', target: 'bin/x' },
    { kind: 'chardev', path: 'console', major: 5, minor: 1 },
  ]);
  t.equal(a.length % 4, 0, 'padded to 4 bytes');
  t.equal(a.subarray(0, 6).toString(), '070701');
  const file = a.indexOf('bin/x\0');
  const head = a.subarray(file - 110, file).toString();
  t.equal(parseInt(head.slice(14, 22), 16), 0o100755, 'file mode');
  t.equal(parseInt(head.slice(54, 62), 16), 3, 'file size');
  t.ok(a.includes('TRAILER!!!\0'), 'trailer');
});

t.test('isStaticElf', async (t) => {
  t.notOk(isStaticElf(Buffer.from('#!/bin/sh\n')));
  t.notOk(isStaticElf(require('node:fs').readFileSync(process.execPath)), 'node is dynamic');
});
