// A small pool of hashing worker threads shared by every local hash in the process. Workers are
// created on demand, kept for the next batch, and unref'd while idle so they never hold the process
// open. Two workers: hashing is read-bound and the machines this runs on have few cores to spare.
import { Worker } from "node:worker_threads";
import { packageFile } from "../model/package-files.js";
import { WORKER_MARK, type HashRecord, type HashReply, type HashRequest } from "./hash-worker.js";
import type { RecordBatch } from "./hash-cache-file.js";

const POOL_SIZE = 2;
/** Paths per message: large enough to amortize messaging, small enough to spread work and abort soon. */
const BATCH = 64;

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

/** Files hashed by this process so far: bytes read, or taken from the persistent cache (tests, bench). */
export const hashStats = { read: 0, cached: 0 };

/** Hash `paths` (RelPaths) under `root` in the pool; files that fail or change while read are left out. */
export async function hashRecords(root: string, paths: readonly string[], signal?: AbortSignal): Promise<HashRecord[]> {
  return (await hashWithCache(root, paths, undefined, signal)).records;
}

/** hashRecords, consulting `cache` (HashRequest.cache) and returning the records to save it with. */
export async function hashWithCache(root: string, paths: readonly string[], cache: HashRequest["cache"], signal?: AbortSignal): Promise<{ records: HashRecord[]; batches: RecordBatch[] }> {
  signal?.throwIfAborted();
  const replies: Promise<HashReply>[] = [];
  for (let i = 0; i < paths.length; i += BATCH) replies.push(run({ root, paths: paths.slice(i, i + BATCH), ...(cache ? { cache } : {}) }, signal));
  const records: HashRecord[] = [];
  const batches: RecordBatch[] = [];
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
