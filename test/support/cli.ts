// Runs the built CLI as a user would: a child process, its exit code, stdout and stderr.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The `tsync` command as installed (package.json "bin"): the one-file bundle tools/bundle.ts makes, run as itself (its first line says how). */
export const CLI = fileURLToPath(new URL("../../tsync.js", import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

let cacheHome: string | undefined;

/**
 * The XDG cache directory of the CLIs a test process runs: deep plans keep their source hash caches
 * there (settings.hashCache's default), not in the tester's ~/.cache. Sticky and world-writable like
 * /tmp, for the tests that run the CLI as another login; removed when the test process exits.
 */
function testCacheHome(): string {
  if (cacheHome === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "tsync-test-cache-"));
    chmodSync(dir, 0o1777);
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    cacheHome = dir;
  }
  return cacheHome;
}

/** `prefix`: a command that runs the CLI (e.g. `ip netns exec NS`). `uid`/`gid`: run as that login (the tests run as root, who can read everything). */
export function runTsync(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; prefix?: readonly string[]; uid?: number; gid?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const argv = [...(opts.prefix ?? []), CLI, ...args];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? process.cwd(),
      env: { ...process.env, NO_COLOR: "1", XDG_CACHE_HOME: testCacheHome(), ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}
