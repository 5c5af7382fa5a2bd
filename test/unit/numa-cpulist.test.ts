// The kernel's cpulist and hex CPU mask formats; expected texts are written
// out by hand from the bit positions (lib/vsprintf.c bitmap_string rules).
import t from 'tap';
import { formatCpuList, formatCpuMask, parseCpuList, parseCpuMask } from '../../src/numa/cpulist';
import { cpusetOf } from '../../src/numa/cpuset';

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

t.test('parseCpuList', async (t) => {
  t.same(parseCpuList('0-3,8,10-11'), [0, 1, 2, 3, 8, 10, 11]);
  t.same(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11], 'sysfs trailing newline');
  t.same(parseCpuList(''), [], 'empty set');
  t.same(parseCpuList('\n'), [], 'devices/system/cpu/offline with nothing offline');
  t.same(parseCpuList('7'), [7]);
  t.same(parseCpuList('1,1,0'), [0, 1], 'sorted, distinct');
  t.same(parseCpuList('4-6,0-1'), [0, 1, 4, 5, 6]);
  t.same(parseCpuList('0-7:2/4'), [0, 1, 4, 5], 'grouped: 2 of every 4');
  t.same(parseCpuList('0-9:1/3'), [0, 3, 6, 9]);
  t.same(parseCpuList('2-3:4/4'), [2, 3], 'group larger than the range');
  t.same(parseCpuList('8191'), [8191]);
});

t.test('parseCpuList rejects', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['3-1', /range "3-1" runs backwards/],
    ['a', /bad item "a"/],
    ['1,,2', /bad item ""/],
    [',1', /bad item ""/],
    ['1 , 2', /bad item "1 "/],
    ['-1', /bad item "-1"/],
    ['1-', /bad item "1-"/],
    ['0x1', /bad item "0x1"/],
    ['01', /leading zero in "01"/],
    ['8192', /CPU 8192 is out of range/],
    ['0-99999999999999999999', /out of range/],
    ['0-3:0/4', /group must be/],
    ['0-3:5/4', /group must be/],
    ['0-3:1', /bad item/],
  ];
  for (const [text, message] of bad) {
    t.throws(() => parseCpuList(text, 'cpuset.cpus'), { name: 'NkitError', code: 'EINPUT', message }, JSON.stringify(text));
  }
  t.throws(() => parseCpuList('x', 'cpuset.cpus'), { message: /^cpuset\.cpus: "x" is not a CPU list/ }, 'names what and the text');
});

t.test('formatCpuList', async (t) => {
  t.equal(formatCpuList([0, 1, 2, 3, 8, 10, 11]), '0-3,8,10-11');
  t.equal(formatCpuList([]), '');
  t.equal(formatCpuList([5, 3, 4, 4]), '3-5', 'order and duplicates do not matter');
  t.equal(formatCpuList([1, 3]), '1,3');
  t.equal(formatCpuList([10, 11]), '10-11', 'two in a row are a range, as the kernel prints them');
  t.equal(formatCpuList(range(0, 127)), '0-127');
});

t.test('formatCpuMask: width follows the number of possible CPUs', async (t) => {
  t.equal(formatCpuMask([0, 1], 2), '3', '2 CPUs: one digit (this host prints rps_cpus as "0")');
  t.equal(formatCpuMask([], 2), '0');
  t.equal(formatCpuMask([0, 1, 2, 3], 4), 'f');
  t.equal(formatCpuMask([4], 5), '10', '5 bits: two digits');
  t.equal(formatCpuMask([0], 1), '1');
  t.equal(formatCpuMask([4], 8), '10');
  t.equal(formatCpuMask([0, 1, 2, 3], 8), '0f', 'padded to the width');
  t.equal(formatCpuMask([8, 9], 16), '0300');
  t.equal(formatCpuMask([31], 32), '80000000');
  t.equal(formatCpuMask([32], 33), '1,00000000', 'second word: one digit');
  t.equal(formatCpuMask([0, 33], 64), '00000002,00000001', 'most significant word first');
  t.equal(formatCpuMask([], 64), '00000000,00000000');
  t.equal(formatCpuMask(range(0, 71), 72), 'ff,ffffffff,ffffffff');
  t.equal(formatCpuMask(range(36, 71), 72), 'ff,fffffff0,00000000');
  t.equal(formatCpuMask(range(48, 95), 96), 'ffffffff,ffff0000,00000000');
  t.equal(formatCpuMask([127], 128), '80000000,00000000,00000000,00000000');
  t.equal(formatCpuMask([0, 127], 128), '80000000,00000000,00000000,00000001');
  t.equal(formatCpuMask(range(64, 127), 128), 'ffffffff,ffffffff,00000000,00000000');
  t.equal(formatCpuMask([1, 0, 1], 4), '3', 'order and duplicates do not matter');
});

t.test('formatCpuMask rejects', async (t) => {
  t.throws(() => formatCpuMask([8], 8), { code: 'EINPUT', message: /CPU 8 does not fit a mask of 8 possible CPUs/ });
  t.throws(() => formatCpuMask([-1], 8), { code: 'EINPUT' });
  t.throws(() => formatCpuMask([1.5], 8), { code: 'EINPUT' });
  t.throws(() => formatCpuMask([], 0), { code: 'EINPUT', message: /mask width 0/ });
  t.throws(() => formatCpuMask([], 8193), { code: 'EINPUT' });
});

t.test('parseCpuMask', async (t) => {
  t.same(parseCpuMask('00000002,00000001'), [0, 33]);
  t.same(parseCpuMask('00000002,00000001\n', 'x', 64), [0, 33], 'as read from sysfs');
  t.same(parseCpuMask('f0'), [4, 5, 6, 7]);
  t.same(parseCpuMask('F0'), [4, 5, 6, 7], 'upper case');
  t.same(parseCpuMask('0', 'rps_cpus', 2), []);
  t.same(parseCpuMask('1,00000000'), [32]);
  t.same(parseCpuMask('1,0'), [32], 'short words');
  t.same(parseCpuMask('80000000,00000000,00000000,00000001', 'x', 128), [0, 127]);
  t.throws(() => parseCpuMask('100', 'xps_cpus', 8), { code: 'EINPUT', message: /names CPU 8, beyond the 8 possible CPUs/ });
  t.throws(() => parseCpuMask('0,00000000,00000000', 'xps_cpus', 64), { code: 'EINPUT', message: /has 3 words; 64 possible CPUs need at most 2/ });
  for (const bad of ['', 'xyz', '123456789', '1,,2', ',1', '0x1', '1 ,2', '-1']) {
    t.throws(() => parseCpuMask(bad, 'xps_cpus'), { name: 'NkitError', code: 'EINPUT', message: /^xps_cpus: ".*" is not a hex CPU mask/ }, JSON.stringify(bad));
  }
});

t.test('mask round trips', async (t) => {
  const sets: Array<[number[], number]> = [[[], 2], [[1], 2], [[0, 33], 64], [range(0, 71), 72], [[5, 40, 70, 100, 127], 128], [[95], 96], [[0, 4095], 4096]];
  for (const [cpus, n] of sets) t.same(parseCpuMask(formatCpuMask(cpus, n), 'x', n), cpus, `${formatCpuList(cpus)} of ${n}`);
});

t.test('cpusetOf: linux.resources.cpu.cpus of config.json', async (t) => {
  t.same(cpusetOf({ linux: { resources: { cpu: { cpus: '0-1,4' } } } }, 'bundle'), [0, 1, 4]);
  t.equal(cpusetOf({ linux: { resources: { cpu: { cpus: '' } } } }, 'bundle'), undefined, '"" pins nothing');
  t.equal(cpusetOf({ linux: { resources: { cpu: { shares: 1024 } } } }, 'bundle'), undefined);
  t.equal(cpusetOf({ linux: {} }, 'bundle'), undefined);
  t.equal(cpusetOf({}, 'bundle'), undefined);
  t.equal(cpusetOf(null, 'bundle'), undefined);
  t.throws(() => cpusetOf({ linux: { resources: { cpu: { cpus: 3 } } } }, 'container c1: bundle config'), {
    code: 'EINPUT', message: 'container c1: bundle config: linux.resources.cpu.cpus must be a string, not number',
  });
  t.throws(() => cpusetOf({ linux: { resources: { cpu: { cpus: '0-x' } } } }, 'container c1: bundle config'), {
    code: 'EINPUT', message: /^container c1: bundle config: linux\.resources\.cpu\.cpus: "0-x" is not a CPU list/,
  });
});
