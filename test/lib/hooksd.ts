// nkit's shipped runtime integration files (packaging/hooks.d, packaging/containerd),
// rewritten for a test: the checkout's hook and the test's config instead of
// /usr/libexec/nkit/nkit-oci-hook and /etc/nkit/config.json.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OciHook } from './bundle';
import { HOOK_PATH_ENV } from './capture';
import { HOOK, type NkitTestEnv } from './nkit';
import { repoRoot } from './paths';
import { tempDir, type Scope } from './scope';

/** packaging/hooks.d (annotation-matched) and packaging/hooks.d/always. */
export const HOOKS_D_DIRS = {
  annotation: join(repoRoot, 'packaging', 'hooks.d'),
  always: join(repoRoot, 'packaging', 'hooks.d', 'always'),
} as const;
/** packaging/containerd: the base-spec hooks snippet and the tool that merges it into a spec. */
export const CONTAINERD_HOOKS = join(repoRoot, 'packaging', 'containerd', 'nkit-hooks.json');
export const NKIT_BASE_SPEC = join(repoRoot, 'packaging', 'containerd', 'nkit-base-spec');

/** The shipped hook entry pointed at this checkout and `env`'s config: args[0], --config FILE, then the rest. */
export function forTest(hook: OciHook, env: NkitTestEnv): OciHook {
  const [argv0 = 'nkit-oci-hook', ...rest] = hook.args ?? [];
  return { ...hook, path: HOOK, args: [argv0, '--config', env.configPath, ...rest], env: [HOOK_PATH_ENV], timeout: 60 };
}

/** The shipped hooks.d files of one variant, as parsed JSON, by file name. */
export async function shippedHooksD(variant: keyof typeof HOOKS_D_DIRS): Promise<Map<string, { hook: OciHook; [k: string]: unknown }>> {
  const dir = HOOKS_D_DIRS[variant];
  const out = new Map<string, { hook: OciHook; [k: string]: unknown }>();
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.json')).sort()) {
    out.set(name, JSON.parse(await readFile(join(dir, name), 'utf8')));
  }
  return out;
}

/** A temp hooks dir (for podman --hooks-dir) holding the shipped files of `variant`, rewritten by forTest. */
export async function testHooksDir(scope: Scope, env: NkitTestEnv, variant: keyof typeof HOOKS_D_DIRS): Promise<string> {
  const dir = await tempDir(scope, 'nkt-hooksd-');
  for (const [name, file] of await shippedHooksD(variant)) {
    await writeFile(join(dir, name), JSON.stringify({ ...file, hook: forTest(file.hook, env) }, null, 2));
  }
  return dir;
}

/** packaging/containerd/nkit-hooks.json rewritten by forTest, in a temp file; returns its path. */
export async function testContainerdHooks(scope: Scope, env: NkitTestEnv): Promise<string> {
  const snippet = JSON.parse(await readFile(CONTAINERD_HOOKS, 'utf8')) as { hooks: Record<string, OciHook[]> };
  const hooks = Object.fromEntries(Object.entries(snippet.hooks).map(([stage, list]) => [stage, list.map((h) => forTest(h, env))]));
  const path = join(await tempDir(scope, 'nkt-cdhooks-'), 'nkit-hooks.json');
  await writeFile(path, JSON.stringify({ hooks }, null, 2));
  return path;
}
