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
import { packageFile } from "../model/package-files.js";
import { DRIVER } from "./lsyncd-driver.lua.js";
import { makeReader, type ReadScope } from "./lsyncd-files.js";

export type LuaValue = string | number | boolean | LuaTable | LuaFunction | LuaDefault | LuaOpaque;
export interface LuaTable {
  readonly t: "table";
  /** Values at keys 1..n. */
  readonly arr: readonly LuaValue[];
  /** Values at string keys (other keys are dropped). */
  readonly map: Readonly<Record<string, LuaValue>>;
}
/** `line`..`last`: where the config defines it (0: elsewhere, a built-in or a loaded file). */
export interface LuaFunction { readonly t: "function"; readonly line: number; readonly last: number }
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

interface Job { readonly source: string; readonly limits: EvalLimits; readonly env: string; readonly files: ReadScope | null }
type Raw = {
  error: string | null;
  fatal: string[];
  notes: { line: number; message: string }[];
  syncs: RecordedCall[];
  settingsCalls: RecordedCall[];
  settingsAssigned: LuaValue | null;
  limit: "steps" | "memory" | null;
};

/**
 * One worker, kept while evaluations keep coming, each on a fresh Lua state with its own memory limit.
 * Starting the worker and wasmoon costs ~1 s of CPU, the state ~30 ms: a worker per file made a corpus
 * of 57 configs take a minute, and on a loaded machine the start alone passed the wall clock. So the
 * clock runs from when the worker is ready; a worker that overran, failed or exited is replaced.
 */
interface Pool { readonly worker: Worker; readonly ready: Promise<void>; pending?: (m: Reply) => void }
type Reply =
  | { readonly kind: "ready" }
  | { readonly kind: "result"; readonly json: string }
  | { readonly kind: "gone"; readonly why: string; readonly stoppedBy?: EvalLimit };
let pool: Pool | undefined;
let queue: Promise<unknown> = Promise.resolve();
/** Time to start a worker and wasmoon; generous, as that is not the config's doing. */
const START_TIMEOUT_MS = 60_000;

function startPool(): Pool {
  // This module is also the worker's entry (the block at its end); by its path in dist/, as the
  // bundle the CLI runs is one file with every module in it.
  const worker = new Worker(packageFile("dist/reconciler/import/lsyncd-eval.js"), { workerData: { tsyncLsyncdEval: true }, resourceLimits: { maxOldGenerationSizeMb: 256 } });
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const p: Pool = { worker, ready };
  const gone = (why: string) => {
    if (pool === p) pool = undefined;
    readyResolve();
    p.pending?.({ kind: "gone", why });
  };
  worker.on("message", (json: string) => {
    if (json === "ready") return readyResolve();
    p.pending?.({ kind: "result", json });
  });
  worker.on("error", (e) => gone(`the Lua VM failed: ${e.message.split("\n")[0]}`));
  worker.on("exit", (code) => gone(`the Lua VM exited (code ${code})`));
  return p;
}

/** Runs `source` (named `file` in messages). Never throws for anything the config does. */
export function evaluateLsyncd(
  source: string,
  file: string,
  limits: Partial<EvalLimits> = {},
  env: Readonly<Record<string, string | undefined>> = {},
  /** What readdir, dofile, require and io.open may read; absent: nothing (each is refused by name). */
  files?: ReadScope,
): Promise<EvalResult> {
  const lim: EvalLimits = { ...DEFAULT_LIMITS, ...limits };
  // Lua's loadfile (lsyncd's) skips a first line starting with "#" (a shebang); keep the line count.
  const job: Job = { source: source.replace(/^#[^\n]*/, ""), limits: lim, env: encodeEnv(env), files: files ?? null };
  const run = queue.then(() => runOne(job, file));
  queue = run;
  return run;
}

async function runOne(job: Job, file: string): Promise<EvalResult> {
  const p = (pool ??= startPool());
  p.worker.ref();
  const fail = (msg: string, stoppedBy?: EvalLimit): EvalResult => ({ ok: false, error: `${file}: ${msg}`, ...(stoppedBy ? { stoppedBy } : {}) });
  const reply = await new Promise<Reply>((resolve) => {
    let timer = setTimeout(() => resolve({ kind: "gone", why: `the Lua VM did not start within ${START_TIMEOUT_MS} ms` }), START_TIMEOUT_MS);
    p.pending = (m) => {
      clearTimeout(timer);
      resolve(m);
    };
    void p.ready.then(() => {
      if (pool !== p) return;
      clearTimeout(timer);
      timer = setTimeout(() => resolve({ kind: "gone", why: `evaluation took longer than ${job.limits.timeoutMs} ms and was stopped`, stoppedBy: "time" }), job.limits.timeoutMs);
      p.worker.postMessage(job);
    });
  });
  p.pending = undefined;
  if (reply.kind === "result") {
    p.worker.unref(); // an idle worker must not keep the process alive
    return fromRaw(JSON.parse(reply.json) as Raw, file);
  }
  if (pool === p) pool = undefined;
  await p.worker.terminate();
  return reply.kind === "gone" ? fail(reply.why, reply.stoppedBy) : fail("the Lua VM did not answer");
}

/** The environment as NAME=VALUE lines for the driver; one escape scheme, no JSON parser in Lua. */
function encodeEnv(env: Readonly<Record<string, string | undefined>>): string {
  const esc = (s: string) => s.replace(/[%=\n\0]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return Object.entries(env).map(([k, v]) => (v === undefined ? "" : `${esc(k)}=${esc(v)}\n`)).join("");
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

type Factory = InstanceType<typeof import("wasmoon").LuaFactory>;

async function runJob(factory: Factory, job: Job): Promise<string> {
  const engine = await factory.createEngine({ traceAllocations: true });
  try {
    engine.global.setMemoryMax(job.limits.memoryMiB * 1024 * 1024);
    engine.global.set("__tsync_src", job.source);
    engine.global.set("__tsync_budget", job.limits.steps);
    engine.global.set("__tsync_memory_mib", job.limits.memoryMiB);
    engine.global.set("__tsync_env", job.env);
    if (job.files) {
      const reader = makeReader(job.files);
      engine.global.set("__tsync_read", reader.read);
      engine.global.set("__tsync_list", reader.list);
      engine.global.set("__tsync_base", job.files.base);
    }
    return String(await engine.doString(DRIVER));
  } finally {
    engine.global.close();
  }
}

const data = workerData as { tsyncLsyncdEval?: boolean } | null;
if (!isMainThread && data?.tsyncLsyncdEval === true && parentPort) {
  const port = parentPort;
  // Not a top-level await: this module is also in the CLI's CommonJS bundle (tools/bundle.ts); only
  // the worker, which runs this file itself, takes this branch.
  void import("wasmoon").then(({ LuaFactory }) => {
    const factory = new LuaFactory();
    port.on("message", (job: Job) => {
      runJob(factory, job).then(
        (json) => port.postMessage(json),
        (e: unknown) => {
          const msg = e instanceof Error ? e.message : String(e);
          const empty: Raw = { error: msg.split("\n")[0] ?? msg, fatal: [], notes: [], syncs: [], settingsCalls: [], settingsAssigned: null, limit: null };
          port.postMessage(JSON.stringify(empty));
        },
      );
    });
    port.postMessage("ready");
  });
}
