// How many entries one scan may hold before it stops with a clear error instead of letting the
// process die of an out-of-memory abort (a kill the operator sees no reason for).
import { getHeapStatistics } from "node:v8";

/**
 * Bytes per entry, with headroom: a scanned listing (model/listing.ts) holds its path's bytes plus
 * 23 B (offset, kind, mode, mtime, size), ~48 B at a typical path length, in buffers beside the JS
 * heap; while it is built the builder's chunked columns hold about as much again, plus the index
 * arrays of its sort. The heap limit stands for the process's memory budget (a Map of objects held
 * 183 B per entry on the heap itself).
 */
const BYTES_PER_ENTRY = 160;

/** Entries per scanned tree when `trees` snapshots (a source and its targets) are alive at once, in half the heap. */
export function entryLimit(trees: number): number {
  return Math.floor(getHeapStatistics().heap_size_limit / 2 / (Math.max(1, trees) * BYTES_PER_ENTRY));
}

export function tooManyEntries(count: number, limit: number): string {
  const mb = Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
  return (
    `${count} entries or more, over the ${limit} that fit in this process's memory next to the other trees of the sync ` +
    `(heap limit ${mb} MB); give node more with NODE_OPTIONS=--max-old-space-size=<MB>, or exclude part of the tree`
  );
}
