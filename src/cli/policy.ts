// `nkit policy show|apply|test` and `nkit stats`.
import { Command } from 'commander';
import { LoadedConfig, logFileOf } from '../config/config';
import { NkitError } from '../errors';
import { createLogger } from '../log';
import { applyPolicy, readStats, showPolicy, testPolicy } from '../lifecycle/policy-ops';

type Out = (s: string) => void;

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

function intOpt(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new NkitError('EUSAGE', `--${name} must be a number ${min}-${max}, not "${v}"`);
  return Number(v);
}

// Adds the policy and stats commands to the program.
export function addPolicyCommands(program: Command, config: () => LoadedConfig, out: Out): void {
  const policy = program.command('policy').description('show, replace or test the BPF policy of a running container (host only)');

  policy
    .command('show <id>')
    .description('the rules in force and where they came from')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) => {
      const s = showPolicy(config(), id);
      if (o.json) return out(json(s));
      const lines = [`container ${id}: policy ${s.policy.name} (from ${s.policy.source}${s.policy.file ? `, file ${s.policy.file}` : ''})`];
      if (s.applied) {
        lines.push(`applied ${s.applied.appliedAt}${s.applied.allowAll ? ': everything passes (anti-spoofing still applies)' : ''}`);
        for (const dir of ['ingress', 'egress'] as const) {
          const rules = (s.applied.rules[dir] as Array<{ cidr: string; proto: string; ports?: string }>) ?? [];
          lines.push(`${dir}: ${rules.length ? '' : s.applied.allowAll ? 'allow all' : 'nothing allowed'}`);
          rules.forEach((r, i) => lines.push(`  [${i}] ${r.proto} ${r.cidr}${r.ports ? ` ports ${r.ports}` : ''}`));
        }
      }
      out(`${lines.join('\n')}\n`);
    });

  policy
    .command('apply <id> <policy>')
    .description('replace the rules of a running container atomically (POLICY: a name in policiesDir, deny-all, allow-all, or a file path)')
    .action((id: string, what: string) => {
      const cfg = config();
      const log = createLogger({ file: logFileOf(cfg), level: cfg.logLevel }).child({ command: 'policy apply' });
      const r = applyPolicy(cfg, id, what, log);
      const seeded = r.seeded !== undefined ? `; ${r.seeded} open connections carried over from allow-all` : '';
      out(`container ${id}: policy ${r.policy} in force (generation ${r.gen}, ${r.entries} map entries in ${r.sets} port sets, ${r.removed} old entries removed${seeded})\n`);
      for (const w of r.warnings) process.stderr.write(`nkit: warning: container ${id}: ${w}\n`);
    });

  policy
    .command('test <id>')
    .description('what the container\'s program decides for a packet, computed by running it on a crafted packet (BPF_PROG_TEST_RUN, nothing counted)')
    .requiredOption('--dir <dir>', 'egress (sent by the container) or ingress (towards it)')
    .option('--to <addr>', 'egress: the destination')
    .option('--from <addr>', 'ingress: the source')
    .requiredOption('--proto <proto>', 'tcp, udp or icmp')
    .option('--port <n>', 'destination port (tcp, udp)')
    .option('--sport <n>', 'source port (tcp, udp)')
    .option('--json', 'print JSON')
    .action((id: string, o: { dir: string; to?: string; from?: string; proto: string; port?: string; sport?: string; json?: boolean }) => {
      if (o.dir !== 'egress' && o.dir !== 'ingress') throw new NkitError('EUSAGE', `--dir must be egress or ingress, not "${o.dir}"`);
      if (!['tcp', 'udp', 'icmp'].includes(o.proto)) throw new NkitError('EUSAGE', `--proto must be tcp, udp or icmp, not "${o.proto}"`);
      const remote = o.dir === 'egress' ? o.to : o.from;
      if (!remote) throw new NkitError('EUSAGE', o.dir === 'egress' ? '--dir egress needs --to ADDR' : '--dir ingress needs --from ADDR');
      const port = intOpt('port', o.port, 1, 65535);
      const sport = intOpt('sport', o.sport, 1, 65535);
      const r = testPolicy(config(), id, {
        dir: o.dir,
        remote,
        proto: o.proto as 'tcp' | 'udp' | 'icmp',
        ...(port !== undefined ? { port } : {}),
        ...(sport !== undefined ? { sport } : {}),
      });
      if (o.json) return out(json(r));
      const why = r.rule !== undefined ? `${o.dir} rule [${r.rule}]` : r.reason;
      out(`${r.verdict.toUpperCase()} (${why}): ${o.proto} ${r.packet.src} -> ${r.packet.dst}${port ? ` port ${port}` : ''}\n`);
    });

  program
    .command('stats <id>')
    .description('the policy counters of a container: packets and bytes by direction and reason')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) => {
      const s = readStats(config(), id);
      if (o.json) return out(json(s));
      const lines = ['DIRECTION  REASON          PACKETS  BYTES'];
      for (const dir of ['ingress', 'egress'] as const) {
        for (const [reason, c] of Object.entries(s[dir])) lines.push(`${dir.padEnd(9)}  ${reason.padEnd(14)}  ${String(c.packets).padStart(7)}  ${c.bytes}`);
      }
      out(`${lines.join('\n')}\n`);
    });
}
