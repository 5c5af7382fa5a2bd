// The kernel's two CPU-set notations: the cpulist ("0-3,8,10-11", as in
// /sys/devices/system/cpu/online and cpuset.cpus) and the hex mask
// ("00000002,00000001", as in xps_cpus, rps_cpus and node*/cpumap).
import { NkitError } from '../errors';

/** Highest CPU count we accept (the kernel's NR_CPUS tops out at 8192). */
export const MAX_CPUS = 8192;

const RANGE = /^(\d+)(?:-(\d+)(?::(\d+)\/(\d+))?)?$/;

function cpuNumber(s: string, text: string, what: string): number {
  // No leading zeros: "08" is more likely a typo than CPU 8.
  if (s.length > 1 && s.startsWith('0')) throw new NkitError('EINPUT', `${what}: "${text}" is not a CPU list (leading zero in "${s}")`);
  const n = Number(s);
  if (n >= MAX_CPUS) throw new NkitError('EINPUT', `${what}: "${text}": CPU ${s} is out of range (at most ${MAX_CPUS - 1})`);
  return n;
}

// Parses a cpulist into sorted distinct CPU numbers. Accepts what the kernel
// prints and cpuset.cpus accepts: "N", "N-M" and the grouped "N-M:used/group"
// form, comma-separated; surrounding whitespace (sysfs's trailing newline)
// is ignored and "" is the empty set.
export function parseCpuList(text: string, what = 'CPU list'): number[] {
  const body = text.trim();
  if (body === '') return [];
  const set = new Set<number>();
  for (const item of body.split(',')) {
    const m = RANGE.exec(item);
    if (!m) throw new NkitError('EINPUT', `${what}: "${text}" is not a CPU list (bad item "${item}"; expected N, N-M or N-M:used/group)`);
    const lo = cpuNumber(m[1]!, text, what);
    const hi = m[2] === undefined ? lo : cpuNumber(m[2], text, what);
    if (hi < lo) throw new NkitError('EINPUT', `${what}: "${text}": range "${item}" runs backwards`);
    let used = 1;
    let group = 1;
    if (m[3] !== undefined) {
      used = Number(m[3]);
      group = Number(m[4]);
      if (used < 1 || group < 1 || used > group || group > MAX_CPUS) {
        throw new NkitError('EINPUT', `${what}: "${text}": in "${item}" the group must be 1..${MAX_CPUS} and use 1..group CPUs`);
      }
    }
    // bitmap_parselist: from lo, take `used` CPUs of every `group`, up to hi.
    for (let start = lo; start <= hi; start += group) {
      for (let c = start; c < start + used && c <= hi; c++) set.add(c);
    }
  }
  return [...set].sort((a, b) => a - b);
}

// Formats CPUs as the kernel's cpulist ("%*pbl"): ascending, runs of two or
// more as "a-b". Input order and duplicates do not matter.
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j > i ? `${sorted[i]}-${sorted[j]}` : `${sorted[i]}`);
    i = j + 1;
  }
  return parts.join(',');
}

function checkBits(nbits: number, what: string): void {
  if (!Number.isInteger(nbits) || nbits < 1 || nbits > MAX_CPUS) {
    throw new NkitError('EINPUT', `${what}: mask width ${nbits} must be an integer 1..${MAX_CPUS} (the number of possible CPUs)`);
  }
}

// Formats CPUs as the kernel's hex mask for a machine with `nbits` possible
// CPUs (nr_cpu_ids = highest CPU in devices/system/cpu/possible + 1).
//
// The rule is lib/vsprintf.c bitmap_string() ("%*pb" with nr_cpu_ids bits),
// which prints xps_cpus, rps_cpus and node*/cpumap: ceil(nbits/32) words of
// 32 bits, most significant first, comma-separated, lower-case; every word
// is zero-padded to 8 digits except the first, which is padded to
// ceil(r/4) digits where r = nbits mod 32 (32 when that is 0). So 2 CPUs
// print as "3", 8 as "ff", 64 as "ffffffff,ffffffff", 72 as
// "ff,ffffffff,ffffffff". Writing the same text back is safe: bitmap_parse()
// rejects more words than ceil(nbits/32) and bits at or above nbits
// (EOVERFLOW), both of which this format avoids.
export function formatCpuMask(cpus: readonly number[], nbits: number, what = 'CPU mask'): string {
  checkBits(nbits, what);
  const nwords = Math.ceil(nbits / 32);
  const words = new Array<number>(nwords).fill(0);
  for (const c of cpus) {
    if (!Number.isInteger(c) || c < 0 || c >= nbits) throw new NkitError('EINPUT', `${what}: CPU ${c} does not fit a mask of ${nbits} possible CPUs`);
    words[c >>> 5] = (words[c >>> 5]! | (1 << (c & 31))) >>> 0;
  }
  const topBits = nbits % 32 || 32;
  const out: string[] = [];
  for (let w = nwords - 1; w >= 0; w--) {
    const width = w === nwords - 1 ? Math.ceil(topBits / 4) : 8;
    out.push(words[w]!.toString(16).padStart(width, '0'));
  }
  return out.join(',');
}

// Parses a hex CPU mask (as the kernel prints it, or any word widths of 1..8
// digits) into sorted CPU numbers. With `nbits`, rejects bits at or above it
// and more words than ceil(nbits/32), as the kernel's bitmap_parse() does.
export function parseCpuMask(text: string, what = 'CPU mask', nbits?: number): number[] {
  const body = text.trim();
  const words = body.split(',');
  if (body === '' || words.some((w) => !/^[0-9a-fA-F]{1,8}$/.test(w))) {
    throw new NkitError('EINPUT', `${what}: "${text}" is not a hex CPU mask (comma-separated words of 1 to 8 hex digits)`);
  }
  if (nbits !== undefined) {
    checkBits(nbits, what);
    if (words.length > Math.ceil(nbits / 32)) {
      throw new NkitError('EINPUT', `${what}: "${text}" has ${words.length} words; ${nbits} possible CPUs need at most ${Math.ceil(nbits / 32)}`);
    }
  }
  const cpus: number[] = [];
  words.reverse().forEach((w, i) => {
    const v = parseInt(w, 16);
    for (let b = 0; b < 32; b++) if ((v >>> b) & 1) cpus.push(i * 32 + b);
  });
  const over = nbits === undefined ? undefined : cpus.find((c) => c >= nbits);
  if (over !== undefined) throw new NkitError('EINPUT', `${what}: "${text}" names CPU ${over}, beyond the ${nbits} possible CPUs`);
  return cpus;
}
