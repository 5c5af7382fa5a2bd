// The netkit suite runs where the kernel has netkit (the VM). Elsewhere it
// skips, unless NKIT_REQUIRE_NETKIT=1 (set by the VM runner), where a
// missing netkit is a failure, not a skip.
import { probeNetkit } from '../../src/datapath/probe';
import { rootSkipReason } from '../lib/skip';

export function netkitSkipReason(): string | false {
  const root = rootSkipReason();
  if (root) return root;
  const p = probeNetkit();
  if (p.available) return false;
  if (process.env.NKIT_REQUIRE_NETKIT === '1') throw new Error(`NKIT_REQUIRE_NETKIT=1 but ${p.detail}`);
  return `no netkit in this kernel (${p.detail}); it runs in the VM: make test-vm`;
}
