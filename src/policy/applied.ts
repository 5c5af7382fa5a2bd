// The copy of the policy in force for each container, under
// <runDir>/policies/<id>.json: what `nkit policy show` prints, even after
// the file it came from changed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateContainerId } from '../plan/naming';
import { Policy, policyToJson } from './rules';
import { ensureDir } from '../dirs';

export interface AppliedPolicy {
  id: string;
  name: string;
  source: string;
  file?: string;
  allowAll: boolean;
  appliedAt: string;
  rules: Record<string, unknown>;
}

export const appliedPolicyPath = (runDir: string, id: string): string => path.join(runDir, 'policies', `${validateContainerId(id)}.json`);

// Writes the copy atomically.
export function saveAppliedPolicy(runDir: string, id: string, p: Policy): void {
  const file = appliedPolicyPath(runDir, id);
  ensureDir(path.dirname(file), 'applied-policy');
  const rec: AppliedPolicy = {
    id,
    name: p.name,
    source: p.source,
    ...(p.file ? { file: p.file } : {}),
    allowAll: p.allowAll,
    appliedAt: new Date().toISOString(),
    rules: policyToJson(p),
  };
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function readAppliedPolicy(runDir: string, id: string): AppliedPolicy | undefined {
  try {
    return JSON.parse(fs.readFileSync(appliedPolicyPath(runDir, id), 'utf8')) as AppliedPolicy;
  } catch {
    return undefined;
  }
}

export function removeAppliedPolicy(runDir: string, id: string): boolean {
  const f = appliedPolicyPath(runDir, id);
  const had = fs.existsSync(f);
  fs.rmSync(f, { force: true });
  return had;
}
