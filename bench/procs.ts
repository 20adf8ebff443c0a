// Child processes for the bench: run one to completion with its wall time, start a long-running one,
// and read a process's peak resident set (VmHWM) from /proc.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../tsync.js", import.meta.url));

export interface Ran {
  readonly code: number | null;
  readonly ms: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `cmd args` and measures wall time from spawn to exit (what a user waits for). */
export function timed(cmd: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", ...opts.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30 * 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, ms: performance.now() - t0, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

/**
 * The command line of the tsync CLI as users run it (package.json "bin"): `dist/tsync.js ARGS`, whose
 * first line sets its node flags. Extra node flags (e.g. --cpu-prof) need `node FLAGS dist/tsync.js`.
 */
export function cliArgv(args: readonly string[], nodeFlags: readonly string[] = []): [string, string[]] {
  return nodeFlags.length === 0 ? [CLI, [...args]] : [process.execPath, [...nodeFlags, CLI, ...args]];
}

export function tsync(args: readonly string[], nodeFlags: readonly string[] = []): Promise<Ran> {
  return timed(...cliArgv(args, nodeFlags));
}

/** Throws with the command's output unless it exited with one of `ok`. */
export function expectCode(r: Ran, what: string, ok: readonly number[] = [0]): Ran {
  if (r.code === null || !ok.includes(r.code)) {
    throw new Error(`${what}: exit ${r.code}\n${(r.stdout + r.stderr).trim().split("\n").slice(-20).join("\n")}`);
  }
  return r;
}

/** Runs several commands at once (rsync to 4 targets, as lsyncd's maxProcesses would) and times the lot. */
export async function timedAll(cmds: readonly (readonly [string, readonly string[]])[], what: string, ok: readonly number[] = [0]): Promise<number> {
  const t0 = performance.now();
  const rs = await Promise.all(cmds.map(([c, a]) => timed(c, a)));
  const ms = performance.now() - t0;
  rs.forEach((r, i) => expectCode(r, `${what} #${i + 1}`, ok));
  return ms;
}

/** Peak resident set size of a live process in MB (kernel's high-water mark), or NaN if it is gone. */
export function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export interface Daemon {
  readonly child: ChildProcess;
  /** Everything the daemon printed so far (stdout + stderr). */
  output(): string;
  /** Resolves when `re` matches the output; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after 10 s; resolves on exit. */
  stop(): Promise<void>;
}

export function startDaemon(cmd: string, args: readonly string[]): Daemon {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let text = "";
  const waiters = new Set<() => void>();
  const onData = (b: Buffer) => {
    text += b.toString("utf8");
    if (text.length > 4_000_000) text = text.slice(-2_000_000);
    for (const w of waiters) w();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    output: () => text,
    waitFor(re, timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (re.test(text)) done(resolve);
        };
        const done = (f: () => void) => {
          waiters.delete(check);
          clearTimeout(timer);
          f();
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${cmd}: no ${re} within ${timeoutMs} ms:\n${text.slice(-3000)}`))), timeoutMs);
        void exited.then(() => done(() => reject(new Error(`${cmd} exited (${child.exitCode}) before ${re}:\n${text.slice(-3000)}`))));
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
