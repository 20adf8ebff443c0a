// ssh2 and node-ssh, loaded on first use: together they are ~50 ms of a command's start-up, and commands
// whose targets are all local paths (the demo, `validate`, `nginx`, local-only plans and applies) never
// log in anywhere. In the bundle (dist/tsync.js) both come from one file beside it (tools/bundle.ts
// defines TSYNC_SSH_LIBS): one compile instead of ~40 module files, ~25 ms sooner to the first login.
import { createRequire } from "node:module";

type Ssh2 = typeof import("ssh2");
type NodeSshLib = typeof import("node-ssh");
declare const TSYNC_SSH_LIBS: string | undefined;
const load = createRequire(import.meta.url);
const bundled = typeof TSYNC_SSH_LIBS === "string" ? TSYNC_SSH_LIBS : undefined;
let ssh2Lib: Ssh2 | undefined;
let nodeSshLib: NodeSshLib | undefined;

export function ssh2(): Ssh2 {
  return (ssh2Lib ??= bundled ? (load(bundled) as { ssh2: Ssh2 }).ssh2 : (load("ssh2") as Ssh2));
}

export function nodeSsh(): NodeSshLib {
  return (nodeSshLib ??= bundled ? (load(bundled) as { nodeSsh: NodeSshLib }).nodeSsh : (load("node-ssh") as NodeSshLib));
}
