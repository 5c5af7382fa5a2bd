// Chooses KVM or TCG. /dev/kvm existing is not enough: on this project's
// machines nested KVM opens fine and then the guest faults on entry. So KVM
// is used only after a short probe boot succeeded; the verdict is cached
// per host kernel and qemu binary, since a probe that fails costs seconds.
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { Accel } from './qemu';

export type AccelChoice = Accel | 'auto';

interface ProbeRecord { key: string; kvm: boolean; detail: string; at: string }

function probeKey(qemu: string): string {
  const real = realpathSync(qemu);
  const st = statSync(real);
  return `${release()} ${real} ${st.size} ${st.mtimeMs}`;
}

export interface AccelDecision { accel: Accel; why: string }

// KVM if asked for or if a (cached) probe boot worked, TCG otherwise.
export async function chooseAccel(
  choice: AccelChoice,
  cache: string,
  qemu: string,
  probe: () => Promise<{ ok: boolean; detail: string }>,
): Promise<AccelDecision> {
  if (choice !== 'auto') return { accel: choice, why: 'requested' };
  if (!existsSync('/dev/kvm')) return { accel: 'tcg', why: 'no /dev/kvm' };
  const file = join(cache, 'accel.json');
  const key = probeKey(qemu);
  try {
    const rec = JSON.parse(readFileSync(file, 'utf8')) as ProbeRecord;
    if (rec.key === key) {
      return rec.kvm
        ? { accel: 'kvm', why: 'KVM probe passed, cached verdict' }
        : { accel: 'tcg', why: `KVM unusable: ${rec.detail}; cached verdict` };
    }
  } catch { /* no verdict yet */ }
  const res = await probe();
  const rec: ProbeRecord = { key, kvm: res.ok, detail: res.detail, at: new Date().toISOString() };
  try { writeFileSync(file, JSON.stringify(rec, null, 2) + '\n'); } catch { /* cache is optional */ }
  return res.ok
    ? { accel: 'kvm', why: 'KVM probe passed' }
    : { accel: 'tcg', why: `KVM unusable: ${res.detail}` };
}
