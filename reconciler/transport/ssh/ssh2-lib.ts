// ssh2 and node-ssh, loaded on first use: together they are ~45 ms of a command's start-up, and commands
// whose targets are all local paths (the demo, `validate`, `nginx`, local-only plans and applies) never
// log in anywhere.
import { createRequire } from "node:module";

type Ssh2 = typeof import("ssh2");
type NodeSshLib = typeof import("node-ssh");
const load = createRequire(import.meta.url);
let ssh2Lib: Ssh2 | undefined;
let nodeSshLib: NodeSshLib | undefined;

export function ssh2(): Ssh2 {
  return (ssh2Lib ??= load("ssh2") as Ssh2);
}

export function nodeSsh(): NodeSshLib {
  return (nodeSshLib ??= load("node-ssh") as NodeSshLib);
}
