// The typed contract of the native addon (native/) and its lazy loader: the
// addon is loaded on first use, never at import time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NkitError } from './errors';

export interface LoadedProgram { name: string; fd: number; type: number }
export interface LoadedMap { name: string; fd: number; type: number; keySize: number; valueSize: number; maxEntries: number }
export interface LoadedObject { handle: unknown; programs: LoadedProgram[]; maps: LoadedMap[] }
export interface TestRunResult { retval: number; duration: number; dataOut: Buffer; ctxOut?: Buffer }
export interface ProgQueryResult { progIds: number[]; linkIds: number[]; revision: number }

// Every function throws an Error carrying `errno`, `code` and `syscall` when
// the kernel refuses.
export interface Addon {
  netlinkOpen(nsFd: number, protocol: number): number;
  netlinkSend(fd: number, msg: Buffer): void;
  netlinkRecv(fd: number, timeoutMs: number): Buffer;
  closeFd(fd: number): void;
  flock(fd: number, op: number): boolean;
  statfsType(path: string): number;
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount(target: string, flags: number): void;
  writeFileInNetns(nsFd: number, path: string, data: string): void;
  netnsNew(): number;
  /** The credentials of a connected unix socket's peer (SO_PEERCRED). */
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  /** Writes sysfs files as seen from nsFd's namespace (-1: the caller's); errno per write, 0 = ok. */
  writeSysfsInNetns(nsFd: number, writes: Array<[string, string]>): number[];
  bpfObjectLoad(path: string, opts: { reuseMaps?: Record<string, number>; maxEntries?: Record<string, number> }): LoadedObject;
  bpfObjectClose(handle: unknown): void;
  /** ifindex is resolved inside nsFd (-1: the caller's namespace). */
  bpfLinkCreate(progFd: number, ifindex: number, attachType: number, flags: number, nsFd: number): number;
  bpfLinkDetach(linkFd: number): void;
  bpfProgQuery(ifindex: number, attachType: number, max: number, nsFd: number): ProgQueryResult;
  bpfObjPin(fd: number, path: string): void;
  bpfObjGet(path: string): number;
  bpfGetFdById(kind: 'prog' | 'map' | 'link', id: number): number;
  bpfObjInfo(fd: number, size: number): Buffer;
  bpfMapCreate(type: number, name: string, keySize: number, valueSize: number, maxEntries: number, flags: number): number;
  /** Starts writes (value) or deletes (null) of each key, all at once on threads. */
  bpfMapWriteStart(ops: Array<[number, Buffer, Buffer | null]>): unknown;
  /** Waits for them; errno per op (0: ok). */
  bpfMapWriteWait(handle: unknown): number[];
  /** Per op: -1 while its syscall runs, else its errno. */
  bpfMapWritePoll(handle: unknown): number[];
  bpfMapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  bpfMapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
  bpfMapDelete(fd: number, key: Buffer): boolean;
  bpfMapNextKey(fd: number, key: Buffer | null, keySize: number): Buffer | null;
  /** ctxIn: a struct __sk_buff (SCHED_CLS), returned as ctxOut. */
  bpfProgTestRun(progFd: number, data: Buffer, repeat: number, ctxIn?: Buffer): TestRunResult;
  ringbufOpen(mapFd: number): unknown;
  /** Waits up to timeoutMs; returns the samples that arrived (maybe none). */
  ringbufPoll(handle: unknown, timeoutMs: number): Buffer[];
  ringbufClose(handle: unknown): void;
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const MS_BIND = 4096;
export const MNT_DETACH = 2;

let cached: Addon | undefined;

// Loads native/build/Release/nkit.node once (NKIT_ADDON overrides the path).
export function addon(): Addon {
  if (cached) return cached;
  const file = process.env.NKIT_ADDON ?? path.join(packageRoot(), 'native', 'build', 'Release', 'nkit.node');
  try {
    // process.dlopen, not require: a hook started from a startup snapshot has
    // no require for files (see hooks/oci-hook.ts).
    const m = { exports: {} as Addon };
    process.dlopen(m, file);
    cached = m.exports;
  } catch (err) {
    throw new NkitError('EINTERNAL', `load the native addon ${file}`, {
      cause: err,
      hint: 'run `make build` in the nkit checkout',
    });
  }
  return cached;
}

// The directory holding package.json, from dist/src/ or src/.
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = path.dirname(dir);
    if (path.basename(dir) === 'dist') return candidate;
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = candidate;
  }
  return path.resolve(__dirname, '..', '..');
}
