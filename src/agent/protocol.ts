// The hook client <-> nkitd wire format (unix stream socket), small enough
// for the C client in native/client/: length-prefixed fields, big-endian.
//   request:  "NKH1" u32 nargs {u32 len, bytes}... u32 nenv {u32 len, "K=V"}... u32 len stdin
//   response: "NKR1" i32 exit code, u32 len stderr text
import { NkitError } from '../errors';

export const REQUEST_MAGIC = 'NKH1';
export const RESPONSE_MAGIC = 'NKR1';
/** Refuse anything larger: hook stdin is a few hundred bytes. */
export const MAX_FRAME = 1 << 20;

export interface Request {
  argv: string[];
  env: Record<string, string>;
  stdin: string;
}

export interface Response {
  code: number;
  stderr: string;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const field = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u32(b.length), b]);
};

export function encodeRequest(r: Request): Buffer {
  const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`);
  return Buffer.concat([Buffer.from(REQUEST_MAGIC), u32(r.argv.length), ...r.argv.map(field), u32(env.length), ...env.map(field), field(r.stdin)]);
}

export function encodeResponse(r: Response): Buffer {
  const code = Buffer.alloc(4);
  code.writeInt32BE(r.code);
  return Buffer.concat([Buffer.from(RESPONSE_MAGIC), code, field(r.stderr)]);
}

// A reader over a buffer that may be incomplete: `need` is thrown when more
// bytes are required, so the server can wait for them.
class Reader {
  off = 0;
  constructor(private readonly b: Buffer) {}
  take(n: number): Buffer {
    if (n > MAX_FRAME) throw new NkitError('EINPUT', `agent request field of ${n} bytes is too large`);
    if (this.off + n > this.b.length) throw INCOMPLETE;
    const out = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }
  u32(): number {
    return this.take(4).readUInt32BE(0);
  }
  str(): string {
    return this.take(this.u32()).toString('utf8');
  }
}
const INCOMPLETE = new Error('incomplete frame');

// Decodes a request; undefined when the buffer does not hold a whole one yet.
export function decodeRequest(b: Buffer): Request | undefined {
  try {
    const r = new Reader(b);
    if (r.take(4).toString('latin1') !== REQUEST_MAGIC) throw new NkitError('EINPUT', 'not an nkit hook request');
    const nargs = r.u32();
    if (nargs > 256) throw new NkitError('EINPUT', `agent request with ${nargs} arguments`);
    const argv = Array.from({ length: nargs }, () => r.str());
    const nenv = r.u32();
    if (nenv > 256) throw new NkitError('EINPUT', `agent request with ${nenv} environment entries`);
    const env: Record<string, string> = {};
    for (let i = 0; i < nenv; i++) {
      const kv = r.str();
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    return { argv, env, stdin: r.str() };
  } catch (err) {
    if (err === INCOMPLETE) return undefined;
    throw err;
  }
}

export function decodeResponse(b: Buffer): Response | undefined {
  try {
    const r = new Reader(b);
    if (r.take(4).toString('latin1') !== RESPONSE_MAGIC) throw new NkitError('EINPUT', 'not an nkit agent response');
    const code = r.take(4).readInt32BE(0);
    return { code, stderr: r.str() };
  } catch (err) {
    if (err === INCOMPLETE) return undefined;
    throw err;
  }
}
