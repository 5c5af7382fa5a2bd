// A shell-script OCI hook that records what the runtime gave it (stdin, argv, netns), for e2e tests.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HookStage, OciHook, OciHooks } from './bundle';
import { tempDir, type Scope } from './scope';

/** What the capture hook saw at one stage. */
export interface HookCapture {
  /** The OCI state from stdin, parsed. */
  state: Record<string, unknown>;
  /** argv after $0 (a script's $0 is its path: the kernel drops the config's args[0]). */
  args: string[];
  /** readlink /proc/self/ns/net in the hook: the runtime's ("host") netns. */
  selfNetns: string;
  /** readlink /proc/<state.pid>/ns/net when the state has a live pid, else undefined. */
  pidNetns: string | undefined;
}

/** A capture hook on disk and the directory it writes into. */
export interface CaptureHook {
  path: string;
  outDir: string;
  /** The OCI hook entry for a stage: args [path, stage, outDir], PATH set (runtimes pass no env). */
  hook(stage: HookStage): OciHook;
  /** config.json hooks for several stages. */
  hooks(stages: readonly HookStage[]): OciHooks;
  /** What the hook saw at `stage`; undefined if it did not run. */
  read(stage: HookStage): Promise<HookCapture | undefined>;
}

/** Options for captureHook: extra sh lines per stage, run after the capture with $pid set. */
export interface CaptureHookOptions {
  extra?: Partial<Record<HookStage, string>>;
}

/** PATH for hooks: runtimes give a hook only the env its config names. */
export const HOOK_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function script(extra: Partial<Record<HookStage, string>>): string {
  const cases = Object.entries(extra)
    .map(([stage, body]) => `  ${stage})\n${body}\n  ;;`)
    .join('\n');
  return `#!/bin/sh
# nkit test capture hook: args STAGE OUTDIR
set -e
stage="$1"; out="$2"
cat > "$out/$stage.stdin"
printf '%s\\n' "$@" > "$out/$stage.args"
readlink /proc/self/ns/net > "$out/$stage.selfns"
pid=$(sed -n 's/.*"pid": *\\([0-9][0-9]*\\).*/\\1/p' "$out/$stage.stdin")
if [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != 1 ]; then
  readlink "/proc/$pid/ns/net" > "$out/$stage.pidns" || true
fi
case "$stage" in
${cases}
esac
`;
}

/** Write a capture hook and its output dir into fresh temp dirs removed with the scope. */
export async function captureHook(scope: Scope, opts: CaptureHookOptions = {}): Promise<CaptureHook> {
  const dir = await tempDir(scope, 'nkt-hook-');
  const outDir = await tempDir(scope, 'nkt-hookout-');
  const path = join(dir, 'capture-hook.sh');
  await writeFile(path, script(opts.extra ?? {}));
  await chmod(path, 0o755);
  const hook = (stage: HookStage): OciHook => ({ path, args: [path, stage, outDir], env: [HOOK_PATH_ENV], timeout: 10 });
  const opt = async (f: string): Promise<string | undefined> =>
    readFile(join(outDir, f), 'utf8').then((s) => s.trim(), () => undefined);
  return {
    path,
    outDir,
    hook,
    hooks: (stages) => Object.fromEntries(stages.map((s) => [s, [hook(s)]])),
    read: async (stage) => {
      const stdin = await opt(`${stage}.stdin`);
      if (stdin === undefined) return undefined;
      return {
        state: JSON.parse(stdin) as Record<string, unknown>,
        args: ((await opt(`${stage}.args`)) ?? '').split('\n'),
        selfNetns: (await opt(`${stage}.selfns`)) ?? '',
        pidNetns: await opt(`${stage}.pidns`),
      };
    },
  };
}
