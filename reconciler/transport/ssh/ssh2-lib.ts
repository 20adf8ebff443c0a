// ssh2, loaded on first use: it is ~45 ms of a command's start-up, and commands whose targets are all
// local paths (the demo, `validate`, `nginx`, local-only plans and applies) never log in anywhere.
import { createRequire } from "node:module";

type Ssh2 = typeof import("ssh2");
let loaded: Ssh2 | undefined;

export function ssh2(): Ssh2 {
  return (loaded ??= createRequire(import.meta.url)("ssh2") as Ssh2);
}
