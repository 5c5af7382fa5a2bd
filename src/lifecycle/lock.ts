// Advisory file locks (flock) with a timeout. flock is released by the
// kernel when the holder dies, so a crash never leaves a stale lock.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NkitError } from '../errors';
import { addon, LOCK_EX, LOCK_NB, LOCK_UN } from '../native';
import { ensureDir } from '../dirs';

// Created on first use: a startup snapshot cannot hold a SharedArrayBuffer.
let sleeper: Int32Array | undefined;
export const sleepMs = (ms: number): void => {
  sleeper ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleeper, 0, 0, ms);
};

// Runs fn while holding an exclusive lock on `file` (created if missing).
// Gives up with ESTATE after timeoutMs.
export function withLock<T>(file: string, timeoutMs: number, what: string, fn: () => T): T {
  ensureDir(path.dirname(file), 'lock');
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    let locked = false;
    try {
      while (!(locked = addon().flock(fd, LOCK_EX | LOCK_NB))) {
        if (Date.now() >= deadline) {
          throw new NkitError('ESTATE', `${what}: timed out after ${timeoutMs} ms waiting for lock ${file}`, {
            hint: 'another nkit process holds it; check for a hung hook',
          });
        }
        sleepMs(Math.min(2 + attempt, 20));
      }
      // A holder may have unlinked the file before we got it: our lock would
      // then guard nothing. Retry on the file that is there now.
      const now = statOrNull(file);
      const mine = fs.fstatSync(fd);
      if (!now || now.ino !== mine.ino || now.dev !== mine.dev) continue;
      return fn();
    } finally {
      if (locked) addon().flock(fd, LOCK_UN);
      fs.closeSync(fd);
    }
  }
}

function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}
