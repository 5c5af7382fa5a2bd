// nkit-oci-hook: the OCI hook runtimes call (see hooks/nkit-oci-hook). No
// commander here: this is the cold start path, every module counts. `make
// build` also bundles this file and builds a V8 startup snapshot of it
// (dist/oci-hook.snapshot.blob): the native client starts Node from it, with
// every module already loaded.
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import { ALL_STAGES, ociHook, parseHookArgs } from '../src/lifecycle/oci';
import { exitCodeOf, hookFailureLine } from '../src/cli/report';

const HELP = `Usage: nkit-oci-hook [--config FILE] [--log-level LEVEL] STAGE

OCI hook: sets up (createRuntime, prestart) and tears down (poststop) a
container network; other stages do nothing. The OCI state comes on stdin.

Arguments:
  STAGE                ${ALL_STAGES.join(' | ')}

Options:
  --config FILE        config file (default: $NKIT_CONFIG, /etc/nkit/config.json,
                       then the built-in config/nkit.json)
  --log-level LEVEL    log level of the JSON log (default: the config's logLevel)
  -h, --help           display this help
`;

function run(args: string[]): void {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  let stage = '(none)';
  try {
    const a = parseHookArgs(args);
    stage = a.stage;
    ociHook({ stage, stdin: fs.readFileSync(0, 'utf8'), configFlag: a.configFlag, logLevel: a.logLevel, env: process.env });
  } catch (err) {
    // One line: runtimes show it as the reason the container failed.
    process.stderr.write(`${hookFailureLine('nkit-oci-hook', stage, err)}\n`);
    process.exitCode = exitCodeOf(err);
  }
}

// Started from a snapshot, argv has no script path: the arguments start at 1.
if (v8.startupSnapshot?.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(() => run(process.argv.slice(1)));
else run(process.argv.slice(2));
