// One error family for nkit: a stable code, the operation and object in the
// message, errno/syscall when the kernel said no, and the cause kept.

export type NkitErrorCode =
  | 'EUSAGE'        // wrong command line
  | 'EINPUT'        // bad OCI state, config, policy or annotation
  | 'ECONFIG'       // config file unreadable or invalid
  | 'ENOTSUPP'      // a kernel feature is missing (netkit, tcx, bpffs)
  | 'EKERNEL'       // a syscall or netlink request failed
  | 'EIPAM'         // address allocation failed (exhausted, lock timeout)
  | 'ESTATE'        // records or pins disagree with what was asked
  | 'EEXIST'        // the container already has a network
  | 'EINTERNAL';    // a bug: an invariant did not hold

export interface NkitErrorOptions {
  errno?: number;
  syscall?: string;
  cause?: unknown;
  /** What the operator should check or do, printed after the message. */
  hint?: string;
}

// The only error class nkit throws on purpose.
export class NkitError extends Error {
  readonly code: NkitErrorCode;
  readonly errno?: number;
  readonly syscall?: string;
  readonly hint?: string;

  constructor(code: NkitErrorCode, message: string, opts: NkitErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'NkitError';
    this.code = code;
    if (opts.errno !== undefined) this.errno = opts.errno;
    if (opts.syscall !== undefined) this.syscall = opts.syscall;
    if (opts.hint !== undefined) this.hint = opts.hint;
  }
}

// Wraps anything thrown into an NkitError, keeping an existing one as is.
export function asNkitError(err: unknown, code: NkitErrorCode, message: string): NkitError {
  if (err instanceof NkitError) return err;
  const e = err as { errno?: number; code?: string; syscall?: string };
  const errno = typeof e?.errno === 'number' ? Math.abs(e.errno) : undefined;
  const detail = err instanceof Error ? err.message : String(err);
  return new NkitError(code, `${message}: ${detail}`, {
    cause: err,
    ...(errno !== undefined ? { errno } : {}),
    ...(e?.syscall ? { syscall: e.syscall } : {}),
  });
}
