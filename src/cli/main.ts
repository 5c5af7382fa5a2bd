// The `nkit` command line: doctor, status, version.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { LoadedConfig, loadConfig, logFileOf, resolveConfigPath } from '../config/config';
import { gc } from '../lifecycle/gc';
import { agentSocketPath } from '../agent/client-config';
import { startAgent } from '../agent/server';
import { createLogger } from '../log';
import { packageRoot } from '../native';
import { doctor, formatDoctor } from './doctor';
import { exitCodeOf } from './report';
import { addNumaCommand } from './numa';
import { addObserveCommands, detail, formatDetail } from './observe';
import { addPolicyCommands } from './policy';
import { defaultRouteDevice } from '../netlink/ops';
import { withNetlink } from '../netlink/socket';
import { formatStatus, status } from './status';

interface GlobalOpts {
  config?: string;
}

function configOf(opts: GlobalOpts): LoadedConfig {
  return loadConfig(resolveConfigPath(opts.config, process.env).file);
}

export function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

// Builds the program; `out` receives stdout text (tests pass their own).
export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(s)): Command {
  const program = new Command('nkit')
    .description('netkit networking for containers')
    .option('--config <file>', 'config file (default: $NKIT_CONFIG, /etc/nkit/config.json, then the built-in config/nkit.json)')
    .showHelpAfterError();

  program
    .command('doctor')
    .description('probe the kernel (netkit, tcx, bpffs, BTF), say which datapath "auto" picks and why, check runtimes and config')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const g = program.opts<GlobalOpts>();
      let cfg: LoadedConfig | { source: string; error: Error };
      try {
        cfg = configOf(g);
      } catch (err) {
        cfg = { source: resolveConfigPath(g.config, process.env).file, error: err as Error };
      }
      const r = doctor(cfg);
      out(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatDoctor(r)}\n`);
      // Unusable host: neither datapath works, or the config is broken.
      if ((!r.netkit.available && !r.tcx.available) || !r.config.ok) process.exitCode = 1;
    });

  program
    .command('status [id]')
    .description('list containers nkit has set up (id, state, datapath, primary, addresses, policy, NUMA); with an id: everything about one (why this datapath, scrub, queues and masks, program tags and link ids, counters)')
    .option('--json', 'print JSON')
    .action((id: string | undefined, o: { json?: boolean }) => {
      const cfg = configOf(program.opts<GlobalOpts>());
      if (id) {
        const d = detail(cfg, id);
        return out(o.json ? `${JSON.stringify(d, null, 2)}\n` : `${formatDetail(d)}\n`);
      }
      const rows = status(cfg);
      out(o.json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatStatus(rows)}\n`);
    });

  addPolicyCommands(program, () => configOf(program.opts<GlobalOpts>()), out);
  addObserveCommands(program, () => configOf(program.opts<GlobalOpts>()), out);
  addNumaCommand(program, () => configOf(program.opts<GlobalOpts>()), out, () => withNetlink(-1, (s) => defaultRouteDevice(s)));

  program
    .command('gc')
    .description('remove what gone containers left behind (devices, pins, leases, records, machine namespaces) and nkit objects no record names; never touches a live container')
    .option('--dry-run', 'say what would be removed, remove nothing')
    .option('--json', 'print JSON')
    .action((o: { dryRun?: boolean; json?: boolean }) => {
      const cfg = configOf(program.opts<GlobalOpts>());
      const log = createLogger({ file: logFileOf(cfg), level: cfg.logLevel }).child({ command: 'gc' });
      const r = gc(cfg, log, { dryRun: !!o.dryRun });
      if (o.json) return out(`${JSON.stringify(r, null, 2)}\n`);
      const lines = r.removed.map((x) => `${o.dryRun ? 'would remove' : 'removed'} ${x}`);
      if (r.busy.length) lines.push(`busy (a setup or teardown holds it): ${r.busy.join(', ')}`);
      for (const e of r.errors) lines.push(`error: ${e}`);
      lines.push(`${r.removed.length} removed, ${r.kept.length} live container(s) kept`);
      out(`${lines.join('\n')}\n`);
      if (r.errors.length) process.exitCode = 1;
    });

  program
    .command('agent')
    .description('run nkitd in the foreground: serve hook requests from the native hook client on <runDir>/nkitd.sock (systemd socket activation: the socket it is given)')
    .option('--socket <path>', 'socket path (default: <runDir>/nkitd.sock)')
    .action(async (o: { socket?: string }) => {
      const cfg = configOf(program.opts<GlobalOpts>());
      const log = createLogger({ file: logFileOf(cfg), level: cfg.logLevel }).child({ command: 'agent' });
      // systemd socket activation hands the listening socket over as fd 3.
      const activated = process.env.LISTEN_FDS === '1' && process.env.LISTEN_PID === String(process.pid);
      const server = await startAgent({ socketPath: o.socket ?? agentSocketPath(cfg.runDir), ...(activated ? { listenFd: 3 } : {}), log });
      process.stderr.write(`nkitd: listening on ${activated ? 'the socket systemd passed' : (o.socket ?? agentSocketPath(cfg.runDir))}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          server.close(() => resolve());
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  program
    .command('version')
    .description('print the nkit version')
    .action(() => out(`nkit ${version()}\n`));

  return program;
}

// Runs the CLI; resolves to the exit code.
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().exitOverride().parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string; hint?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // Help and version exit 0; every other parse error is a usage error.
      return e.exitCode === 0 || e.code === 'commander.helpDisplayed' ? 0 : 2;
    }
    process.stderr.write(`nkit: ${e.message}${e.hint ? ` (${e.hint})` : ''}\n`);
    return exitCodeOf(err);
  }
}
