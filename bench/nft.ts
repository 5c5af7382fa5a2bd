// The nftables peer (pure): the benchmark's rules as an nftables ruleset on
// the netdev ingress hook of the host-side veth, the hook that runs right
// after tcx ingress, where nkit's egress program sits. Two forms: one rule
// per line (how rules are usually written: a linear chain) and one lookup in
// a concatenated interval set (the best nftables offers). Both start with the
// anti-spoofing rule, which nkit's program applies to every packet too.
import { CONTAINER_ADDR, type BenchRule } from './workload';

export type NftForm = 'linear' | 'set';

const TABLE = 'nkit_bench';

const addrOf = (cidr: string): string => (cidr.endsWith('/32') ? cidr.slice(0, -3) : cidr);
const portsOf = ([lo, hi]: [number, number]): string => (lo === hi ? `${lo}` : `${lo}-${hi}`);

function chain(dev: string, policy: 'accept' | 'drop', body: string[]): string[] {
  return [
    `  chain egress {`,
    `    type filter hook ingress device "${dev}" priority 0; policy ${policy};`,
    `    ip saddr != ${CONTAINER_ADDR} drop`,
    ...body.map((l) => `    ${l}`),
    `  }`,
  ];
}

// The whole ruleset (replacing whatever the netns had) for `nft -f`.
// allowAll: no rules and policy accept (the peer of nkit's allow-all).
export function nftRuleset(rules: BenchRule[], form: NftForm, dev: string, allowAll = false): string {
  const out = ['flush ruleset', `table netdev ${TABLE} {`];
  if (allowAll) {
    out.push(...chain(dev, 'accept', []));
  } else if (form === 'linear') {
    out.push(...chain(dev, 'drop', rules.map((r) => `ip daddr ${addrOf(r.cidr)} ${r.proto} dport ${portsOf(r.ports)} accept`)));
  } else {
    out.push('  set allowed {', '    type ipv4_addr . inet_proto . inet_service', '    flags interval');
    if (rules.length > 0) {
      out.push(`    elements = {`);
      rules.forEach((r, i) => out.push(`      ${addrOf(r.cidr)} . ${r.proto} . ${portsOf(r.ports)}${i < rules.length - 1 ? ',' : ''}`));
      out.push('    }');
    }
    out.push('  }', ...chain(dev, 'drop', ['ip daddr . meta l4proto . th dport @allowed accept']));
  }
  out.push('}', '');
  return out.join('\n');
}
