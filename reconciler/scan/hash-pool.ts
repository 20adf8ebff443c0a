// A small pool of hashing worker threads shared by every local hash in the process. Workers are
// created on demand, kept for the next batch, and unref'd while idle so they never hold the process
// open. Two workers: hashing is read-bound and the machines this runs on have few cores to spare.
import { setImmediate as yieldNow } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { packageFile } from "../model/package-files.js";
import { hashBatch, WORKER_MARK, type HashRecord, type HashReply, type HashRequest } from "./hash-worker.js";
import type { RecordBatch } from "./hash-cache-file.js";

const POOL_SIZE = 2;
/** Paths per message: large enough to amortize messaging, small enough to spread work and abort soon. */
const BATCH = 64;
/** Cache look-ups on the main thread between two yields to the event loop (an lstat each). */
const LOOKUP_SLICE = 2000;

interface Job {
  readonly req: HashRequest;
  readonly signal: AbortSignal | undefined;
  resolve(reply: HashReply): void;
  reject(err: unknown): void;
}

interface Slot {
  readonly worker: Worker;
  job: Job | undefined;
}

const slots: Slot[] = [];
const queue: Job[] = [];

function retire(slot: Slot): void {
  const i = slots.indexOf(slot);
  if (i >= 0) slots.splice(i, 1);
}

function spawn(): Slot {
  const worker = new Worker(packageFile("dist/reconciler/scan/hash-worker.js"), { workerData: WORKER_MARK });
  hashStats.workers++;
  const slot: Slot = { worker, job: undefined };
  const settle = (fn: (job: Job) => void) => {
    const job = slot.job;
    slot.job = undefined;
    worker.unref();
    if (job !== undefined) fn(job);
    pump();
  };
  worker.on("message", (reply: HashReply) => settle((job) => job.resolve(reply)));
  worker.on("error", (err) => {
    retire(slot);
    settle((job) => job.reject(err));
  });
  worker.on("exit", () => {
    retire(slot);
    settle((job) => job.reject(new Error("hash worker exited")));
  });
  worker.unref();
  slots.push(slot);
  return slot;
}

function pump(): void {
  while (queue.length > 0) {
    const slot = slots.find((s) => s.job === undefined) ?? (slots.length < POOL_SIZE ? spawn() : undefined);
    if (slot === undefined) return;
    const job = queue.shift()!;
    if (job.signal?.aborted) {
      job.reject(job.signal.reason);
      continue;
    }
    slot.job = job;
    // Referenced while busy: a caller awaiting the result must keep the process alive.
    slot.worker.ref();
    slot.worker.postMessage(job.req);
  }
}

function run(req: HashRequest, signal: AbortSignal | undefined): Promise<HashReply> {
  return new Promise((resolve, reject) => {
    const job: Job = { req, signal, resolve, reject };
    const onAbort = () => {
      const q = queue.indexOf(job);
      if (q >= 0) queue.splice(q, 1);
      const busy = slots.find((s) => s.job === job);
      if (busy !== undefined) {
        busy.job = undefined;
        retire(busy);
        void busy.worker.terminate();
      }
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = <T>(fn: (v: T) => void) => (v: T) => {
      signal?.removeEventListener("abort", onAbort);
      fn(v);
    };
    job.resolve = done(resolve);
    job.reject = done(reject);
    queue.push(job);
    pump();
  });
}

/** Files hashed by this process so far: bytes read, or taken from the persistent cache; workers started (tests, bench). */
export const hashStats = { read: 0, cached: 0, workers: 0 };

/** Hash `paths` (RelPaths) under `root` in the pool; files that fail or change while read are left out. */
export async function hashRecords(root: string, paths: readonly string[], signal?: AbortSignal): Promise<HashRecord[]> {
  return (await hashWithCache(root, paths, undefined, signal)).records;
}

/** hashRecords, consulting `cache` (HashRequest.cache) and returning the records to save it with. */
export async function hashWithCache(root: string, paths: readonly string[], cache: HashRequest["cache"], signal?: AbortSignal, lookFirst = true): Promise<{ records: HashRecord[]; batches: RecordBatch[] }> {
  signal?.throwIfAborted();
  const records: HashRecord[] = [];
  const batches: RecordBatch[] = [];
  let todo = paths;
  // lookFirst false: the caller looked them up already (misses); the workers still check each key.
  if (cache && lookFirst) {
    // The cache is looked up here, an lstat per file: a warm deep plan then starts no worker (each
    // pays node's bootstrap, 30-80 ms) and posts no message. Only the misses go to the pool, so their
    // records come after the hits'.
    const misses: string[] = [];
    for (let i = 0; i < paths.length; i += LOOKUP_SLICE) {
      if (i > 0) await yieldNow();
      signal?.throwIfAborted();
      const r = hashBatch({ root, paths: paths.slice(i, i + LOOKUP_SLICE), cache, cachedOnly: true });
      hashStats.cached += r.cached;
      for (const rec of r.records) records.push(rec);
      if (r.batch) batches.push(r.batch);
      for (const m of r.misses!) misses.push(m);
    }
    todo = misses;
  }
  const replies: Promise<HashReply>[] = [];
  for (let i = 0; i < todo.length; i += BATCH) replies.push(run({ root, paths: todo.slice(i, i + BATCH), ...(cache ? { cache } : {}) }, signal));
  for (const r of await Promise.all(replies)) {
    hashStats.read += r.read;
    hashStats.cached += r.cached;
    for (const rec of r.records) records.push(rec);
    if (r.batch) batches.push(r.batch);
  }
  return { records, batches };
}

/** Stop the pool's workers (tests, shutdown). The next hash starts new ones. */
export async function closeHashPool(): Promise<void> {
  const all = slots.splice(0);
  await Promise.all(all.map((s) => s.worker.terminate()));
}
