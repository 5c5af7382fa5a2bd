// nkitd: the warm agent. It runs the same lifecycle as the hook (ociHook)
// for requests that the native hook client forwards over a root-only unix
// socket, with validators compiled, modules loaded and the log open once.
// Requests are handled one at a time (the lifecycle is synchronous), which
// with the per-id locks makes concurrent clients safe.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { exitCodeOf, hookFailureLine } from '../cli/report';
import { NkitError } from '../errors';
import { ociHook, parseHookArgs } from '../lifecycle/oci';
import { Logger } from '../log';
import { addon } from '../native';
import { decodeRequest, encodeResponse, MAX_FRAME, Request, Response } from './protocol';
import { ensureDir } from '../dirs';

export interface AgentOptions {
  /** Path to listen on (ignored when listenFd is given). */
  socketPath: string;
  /** A socket systemd passed (LISTEN_FDS): fd 3. */
  listenFd?: number;
  log: Logger;
}

// Environment a client may pass on to the lifecycle (nothing else).
const FORWARDED_ENV = ['NKIT_CONFIG', 'NKIT_FAULT'];

// Runs one forwarded hook invocation.
export function handleRequest(req: Request, log: Logger): Response {
  const env: NodeJS.ProcessEnv = {};
  for (const k of FORWARDED_ENV) if (req.env[k] !== undefined) env[k] = req.env[k];
  // A fault that kills the process would kill the agent: only failures.
  if (env.NKIT_FAULT && !env.NKIT_FAULT.startsWith('fail:')) delete env.NKIT_FAULT;
  let stage = '(none)';
  try {
    const a = parseHookArgs(req.argv.slice(1));
    stage = a.stage;
    const r = ociHook({ stage: a.stage, stdin: req.stdin, configFlag: a.configFlag, logLevel: a.logLevel, env });
    log.debug({ stage, id: r.id, summary: r.summary }, 'request done');
    return { code: 0, stderr: '' };
  } catch (err) {
    return { code: exitCodeOf(err), stderr: `${hookFailureLine('nkit-oci-hook', stage, err)}\n` };
  }
}

function serve(sock: net.Socket, log: Logger): void {
  let buf = Buffer.alloc(0);
  sock.on('error', () => sock.destroy());
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    if (buf.length > MAX_FRAME * 2) return sock.destroy();
    let req: Request | undefined;
    try {
      req = decodeRequest(buf);
    } catch (err) {
      sock.end(encodeResponse({ code: 2, stderr: `nkitd: bad request: ${(err as Error).message}\n` }));
      return;
    }
    if (!req) return;
    sock.removeAllListeners('data');
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    const cred = fd !== undefined && fd >= 0 ? addon().peerCred(fd) : undefined;
    if (!cred || cred.uid !== 0) {
      log.warn({ peer: cred }, 'refused a request from a non-root peer');
      sock.end(encodeResponse({ code: 1, stderr: `nkitd: refused: peer uid ${cred?.uid ?? '?'} is not root\n` }));
      return;
    }
    sock.end(encodeResponse(handleRequest(req, log)));
  });
}

// Starts listening; resolves once the socket accepts connections.
export async function startAgent(o: AgentOptions): Promise<net.Server> {
  const server = net.createServer((s) => serve(s, o.log));
  if (o.listenFd === undefined) {
    ensureDir(path.dirname(o.socketPath), 'agent socket');
    await removeStaleSocket(o.socketPath);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (o.listenFd !== undefined) {
      server.listen({ fd: o.listenFd }, resolve);
      return;
    }
    const old = process.umask(0o177);
    server.listen(o.socketPath, () => {
      process.umask(old);
      fs.chmodSync(o.socketPath, 0o600);
      resolve();
    });
  });
  o.log.info({ socket: o.listenFd !== undefined ? `fd ${o.listenFd}` : o.socketPath }, 'nkitd listening');
  return server;
}

// A socket file nobody listens on is left by an agent that died: remove
// it. One that answers belongs to a running agent: refuse to take it over.
async function removeStaleSocket(p: string): Promise<void> {
  if (!fs.existsSync(p)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new NkitError('EEXIST', `another nkitd is listening on ${p}`);
  fs.rmSync(p, { force: true });
}
