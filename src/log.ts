// Logging: pino, JSON lines, synchronously to a file (runtimes swallow a
// hook's stdout and a hook exits right after its work).
import * as path from 'node:path';
import pino from 'pino';
import { ensureDir } from './dirs';

export type Logger = pino.Logger;

export interface LogOptions {
  file?: string;
  level?: string;
}

// One logger per file and level: the agent serves many requests and must
// not open the log file for each (a hook process makes one or two).
const loggers = new Map<string, Logger>();

// A logger writing to `file` (created with its directory), or a silent one.
export function createLogger(o: LogOptions): Logger {
  const level = o.level ?? 'info';
  if (!o.file || level === 'silent') return pino({ level: 'silent' });
  const key = `${level}\0${o.file}`;
  let l = loggers.get(key);
  if (!l) {
    ensureDir(path.dirname(o.file), 'log');
    const dest = pino.destination({ dest: o.file, sync: true, mkdir: true });
    l = pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
    loggers.set(key, l);
  }
  return l;
}
