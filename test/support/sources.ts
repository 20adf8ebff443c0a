// Content sources that misbehave on cue, for apply tests: deterministic, no timing.
import * as fs from "node:fs";
import { Readable } from "node:stream";
import type { ContentSource } from "../../reconciler/transport/types.js";

/**
 * `inner`, except that right after the first chunk of each file is handed on, `file` (the source
 * file on disk) is rewritten in place with `replacement` (same inode, same size): what is sent is
 * then part old, part new — a torn file, unless the transport notices.
 */
export function rewrittenWhileSent(inner: ContentSource, file: string, replacement: Buffer): ContentSource & { rewrites: number } {
  const out = {
    rewrites: 0,
    open: async (path: Parameters<ContentSource["open"]>[0]) => {
      const f = await inner.open(path);
      async function* tamper(): AsyncGenerator<Buffer> {
        let first = true;
        for await (const chunk of f.stream) {
          yield chunk as Buffer;
          if (first) {
            first = false;
            fs.writeFileSync(file, replacement, { flag: "r+" });
            out.rewrites++;
          }
        }
      }
      return { ...f, stream: Readable.from(tamper()) };
    },
  };
  return out;
}
