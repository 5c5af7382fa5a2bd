// Turning errors into the one human line a runtime or operator sees.
import { NkitError } from '../errors';

// "<prog>: <stage> failed for container <id>: <message> (<hint>)"
export function hookFailureLine(prog: string, stage: string, err: unknown): string {
  const id = (err as { containerId?: string })?.containerId;
  let msg = err instanceof Error ? err.message : String(err);
  if (id && msg.startsWith(`container ${id}: `)) msg = msg.slice(`container ${id}: `.length);
  const hint = err instanceof NkitError && err.hint ? ` (${err.hint})` : '';
  const bug = err instanceof NkitError ? '' : ' [unexpected error: please report it with the log]';
  // One line whatever the message quotes (paths, JSON, keys from the input).
  const line = `${prog}: ${stage} failed${id ? ` for container ${id}` : ''}: ${msg}${hint}${bug}`;
  return line.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? ' ' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

// Usage errors exit 2, everything else 1.
export const exitCodeOf = (err: unknown): number => (err instanceof NkitError && err.code === 'EUSAGE' ? 2 : 1);
