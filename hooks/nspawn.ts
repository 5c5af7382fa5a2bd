// nkit-nspawn: systemd-nspawn machines on nkit's network (see hooks/nkit-nspawn).
import { Command } from 'commander';
import { loadConfig, logFileOf, resolveConfigPath } from '../src/config/config';
import { createLogger } from '../src/log';
import { machineDown, machineUp, runMachine } from '../src/nspawn/machine';
import { exitCodeOf, hookFailureLine } from '../src/cli/report';
import { NkitError } from '../src/errors';

interface Global { config?: string; logLevel?: string }
interface MachineOpts { network?: string; policy?: string }
interface RunOpts extends Global, MachineOpts { machine?: string }

function context(g: Global, what: string) {
  const cfg = loadConfig(resolveConfigPath(g.config, process.env).file);
  return { cfg, log: createLogger({ file: logFileOf(cfg), level: g.logLevel ?? cfg.logLevel }).child({ command: `nkit-nspawn ${what}` }) };
}

function fail(stage: string, name: string | undefined, err: unknown): never {
  if (name) (err as { containerId?: string }).containerId = name;
  process.stderr.write(`${hookFailureLine('nkit-nspawn', stage, err).replace('for container', 'for machine')}\n`);
  process.exit(exitCodeOf(err));
}

const program = new Command('nkit-nspawn')
  .description('give a systemd-nspawn machine nkit\'s network: nkit-nspawn --machine NAME [--network NET] [--policy NAME] -- systemd-nspawn [ARGS...]')
  .option('--config <file>', 'config file (default: $NKIT_CONFIG, /etc/nkit/config.json, then the built-in config/nkit.json)')
  .option('--log-level <level>', 'log level of the JSON log')
  .option('--machine <name>', 'machine name (names the record, the device and the namespace)')
  .option('--network <net>', 'nkit network (default: default)')
  .option('--policy <name>', 'policy (default: the config\'s)')
  .argument('[command...]', 'the nspawn command line after --, program first; nkit adds --network-namespace-path=')
  .enablePositionalOptions()
  .passThroughOptions()
  .showHelpAfterError()
  .action(async (command: string[], o: RunOpts) => {
    if (!o.machine) fail('run', undefined, new NkitError('EUSAGE', '--machine NAME is required (or use the up/down subcommands)'));
    try {
      const { cfg, log } = context(o, 'run');
      process.exitCode = await runMachine(o.machine!, { network: o.network, policy: o.policy }, command, cfg, log);
    } catch (err) {
      fail('run', o.machine, err);
    }
  });

program
  .command('up <name>')
  .description('set up the machine\'s namespace and network (ExecStartPre=); prints the namespace path for --network-namespace-path=')
  .option('--network <net>', 'nkit network (default: default)')
  .option('--policy <name>', 'policy (default: the config\'s)')
  .action((name: string, o: MachineOpts) => {
    try {
      const { cfg, log } = context(program.opts<Global>(), 'up');
      const r = machineUp(name, o, cfg, log);
      process.stdout.write(`${r.nsPath}\n`);
    } catch (err) {
      fail('up', name, err);
    }
  });

program
  .command('down <name>')
  .description('tear down the machine\'s network and namespace (ExecStopPost=); nothing to do is success')
  .action((name: string) => {
    try {
      const { cfg, log } = context(program.opts<Global>(), 'down');
      machineDown(name, cfg, log);
    } catch (err) {
      fail('down', name, err);
    }
  });

program.parseAsync(process.argv).catch((err) => fail('run', undefined, err));
