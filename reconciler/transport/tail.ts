// The last `max` bytes of a stream: a command that prints megabytes costs no more memory than that.
import type { Readable } from "node:stream";

export function keepTail(stream: Readable, max: number): () => string {
  let tail = Buffer.alloc(0);
  stream.on("data", (d: Buffer) => {
    tail = tail.length + d.length <= max ? Buffer.concat([tail, d]) : Buffer.concat([tail, d]).subarray(-max);
  });
  return () => tail.toString("utf8");
}
