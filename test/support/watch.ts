// The real `tsync watch` as a child process, for integration tests: start it, wait for its status
// file to say running, stop it with SIGTERM. Waits poll against a deadline; nothing sleeps to settle.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { CLI } from "./cli.js";
import type { StatusDoc } from "../../reconciler/watch/status.js";

export interface WatchProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  /** The log file so far ("" before it exists). */
  log(): string;
  status(): StatusDoc | undefined;
  /** SIGTERM, then waits (20 s at most) and checks it exited 0. */
  stop(): Promise<void>;
}

/** Polls `fn` until it returns something truthy; on timeout fails with `why()`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, why?: () => Promise<string> | string, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${why ? `\n${await why()}` : ""}`);
    await sleep(intervalMs);
  }
}

function readJson(file: string): StatusDoc | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as StatusDoc;
  } catch {
    return undefined;
  }
}

/** A watch test's manifest: the fleet's `hosts` lines, status and log files, and one sync, "site". */
export function watchManifest(o: {
  readonly hosts: string;
  readonly statusFile: string;
  readonly logFile: string;
  readonly settings?: readonly string[];
  readonly source: string;
  readonly targets: readonly string[];
  /** More keys of the sync, one per line, unindented. */
  readonly sync?: readonly string[];
  /** More top-level sections (nginx:), as written. */
  readonly top?: readonly string[];
}): string {
  return [
    "version: 1",
    o.hosts,
    "settings:",
    `  statusFile: ${o.statusFile}`,
    `  logFile: ${o.logFile}`,
    ...(o.settings ?? []).map((l) => `  ${l}`),
    "syncs:",
    "  site:",
    `    source: ${o.source}`,
    "    targets:",
    ...o.targets.map((t) => `      - ${t}`),
    ...(o.sync ?? []).map((l) => `    ${l}`),
    ...(o.top ?? []),
    "",
  ].join("\n");
}

export async function startWatch(manifest: string, files: { statusFile: string; logFile: string }, args: readonly string[] = []): Promise<WatchProcess> {
  const child = spawn(CLI, ["watch", "-f", manifest, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const log = () => (existsSync(files.logFile) ? readFileSync(files.logFile, "utf8") : "");
  const w: WatchProcess = {
    child,
    exited,
    output: () => out,
    log,
    status: () => readJson(files.statusFile),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const res = await Promise.race([exited, sleep(20_000).then(() => undefined)]);
      if (!res) {
        child.kill("SIGKILL");
        assert.fail(`watch did not stop within 20 s of SIGTERM\n${log().split("\n").slice(-20).join("\n")}`);
      }
      assert.equal(res.code, 0, `watch exit status after SIGTERM: ${JSON.stringify(res)}\n${out}`);
    },
  };
  await waitFor(
    "the daemon to be running",
    () => {
      if (child.exitCode !== null) assert.fail(`watch exited with ${child.exitCode}: ${out}\n${log()}`);
      return w.status()?.state === "running";
    },
    30_000,
    () => `${out}\n${log()}`,
  );
  return w;
}
