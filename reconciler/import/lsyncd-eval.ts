// Evaluates an lsyncd config (a Lua program) in a sandbox and returns what it asked lsyncd to do:
// its `settings` and `sync{}` calls, as plain data with Lua line numbers.
//
// Why wasmoon (the reference C Lua 5.4 in WebAssembly) and a worker thread:
// - its allocator is bounded per state (setMemoryMax), so a huge table or string is a Lua "not enough
//   memory" error, not a Node heap crash (fengari, pure JS, grows the JS heap until V8 aborts the process);
// - the step budget is a Lua count hook set by the driver (deterministic, reported with a line);
// - the worker adds a wall clock for what no hook sees (a pathological pattern match inside one C call)
//   and keeps any VM abort away from the caller's process.

import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { DRIVER } from "./lsyncd-driver.lua.js";

export type LuaValue = string | number | boolean | LuaTable | LuaFunction | LuaDefault | LuaOpaque;
export interface LuaTable {
  readonly t: "table";
  /** Values at keys 1..n. */
  readonly arr: readonly LuaValue[];
  /** Values at string keys (other keys are dropped). */
  readonly map: Readonly<Record<string, LuaValue>>;
}
export interface LuaFunction { readonly t: "function"; readonly line: number }
/** One of lsyncd's layer tables (`default.rsync` ...), recognised by identity. */
export interface LuaDefault { readonly t: "default"; readonly name: "rsync" | "rsyncssh" | "direct" }
/** A cycle, a too-deep table, userdata, NaN/inf. */
export interface LuaOpaque { readonly t: "opaque"; readonly type: string }

export interface RecordedCall { readonly line: number; readonly value: LuaValue }
export interface Recorded {
  readonly syncs: readonly RecordedCall[];
  readonly settingsCalls: readonly RecordedCall[];
  /** lsyncd 2.0-style `settings = {...}` (or fields set on `settings`); its line is not known to Lua. */
  readonly settingsAssigned?: LuaValue;
  /** Things the sandbox substituted (os.getenv), each with its line. */
  readonly notes: readonly { readonly line: number; readonly message: string }[];
}
/** Which of the limits stopped an evaluation (none: the config itself failed). */
export type EvalLimit = "steps" | "memory" | "time";
export type EvalResult =
  | { readonly ok: true; readonly recorded: Recorded }
  | { readonly ok: false; readonly error: string; readonly stoppedBy?: EvalLimit };

export interface EvalLimits {
  /** Lua VM instructions (~100M/s here). */
  readonly steps: number;
  readonly memoryMiB: number;
  /** Wall clock for the whole evaluation, VM start included. */
  readonly timeoutMs: number;
}
export const DEFAULT_LIMITS: EvalLimits = { steps: 50_000_000, memoryMiB: 64, timeoutMs: 5_000 };

interface Job { readonly tsyncLsyncdEval: true; readonly source: string; readonly limits: EvalLimits }
type Raw = {
  error: string | null;
  fatal: string[];
  notes: { line: number; message: string }[];
  syncs: RecordedCall[];
  settingsCalls: RecordedCall[];
  settingsAssigned: LuaValue | null;
  limit: "steps" | "memory" | null;
};

/** Runs `source` (named `file` in messages). Never throws for anything the config does. */
export function evaluateLsyncd(source: string, file: string, limits: Partial<EvalLimits> = {}): Promise<EvalResult> {
  const lim: EvalLimits = { ...DEFAULT_LIMITS, ...limits };
  const job: Job = { tsyncLsyncdEval: true, source, limits: lim };
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: EvalResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(r);
    };
    const fail = (msg: string, stoppedBy?: EvalLimit) => done({ ok: false, error: `${file}: ${msg}`, ...(stoppedBy ? { stoppedBy } : {}) });
    const worker = new Worker(new URL(import.meta.url), { workerData: job, resourceLimits: { maxOldGenerationSizeMb: 256 } });
    const timer = setTimeout(() => fail(`evaluation took longer than ${lim.timeoutMs} ms and was stopped`, "time"), lim.timeoutMs);
    worker.on("message", (json: string) => done(fromRaw(JSON.parse(json) as Raw, file)));
    worker.on("error", (e) => fail(`the Lua VM failed: ${e.message.split("\n")[0]}`));
    worker.on("exit", (code) => fail(`the Lua VM exited (code ${code})`));
  });
}

function fromRaw(raw: Raw, file: string): EvalResult {
  const named = (m: string) => m.replace(/^CONF:/, `${file}:`).replace(/\[string "CONF"\]:/, `${file}:`);
  // A refused call (fatal) outranks the limit that may have stopped the run after it.
  if (raw.fatal[0] !== undefined) return { ok: false, error: named(raw.fatal[0]) };
  if (raw.error !== null) return { ok: false, error: named(raw.error), ...(raw.limit ? { stoppedBy: raw.limit } : {}) };
  const recorded: Recorded = {
    syncs: raw.syncs,
    settingsCalls: raw.settingsCalls,
    notes: raw.notes,
    ...(raw.settingsAssigned !== null ? { settingsAssigned: raw.settingsAssigned } : {}),
  };
  return { ok: true, recorded };
}

async function runJob(job: Job): Promise<string> {
  const { LuaFactory } = await import("wasmoon");
  const engine = await new LuaFactory().createEngine({ traceAllocations: true });
  try {
    engine.global.setMemoryMax(job.limits.memoryMiB * 1024 * 1024);
    engine.global.set("__tsync_src", job.source);
    engine.global.set("__tsync_budget", job.limits.steps);
    engine.global.set("__tsync_memory_mib", job.limits.memoryMiB);
    return String(await engine.doString(DRIVER));
  } finally {
    engine.global.close();
  }
}

const data = workerData as Partial<Job> | null;
if (!isMainThread && data?.tsyncLsyncdEval === true && parentPort) {
  const port = parentPort;
  runJob(data as Job).then(
    (json) => port.postMessage(json),
    (e: unknown) => {
      const msg = e instanceof Error ? e.message : String(e);
      const empty: Raw = { error: msg.split("\n")[0] ?? msg, fatal: [], notes: [], syncs: [], settingsCalls: [], settingsAssigned: null, limit: null };
      port.postMessage(JSON.stringify(empty));
    },
  );
}
