// A network namespace with only a loopback, for a client that must not reach a server directly: on
// the host every 127.0.0.x connection comes from 127.0.0.1, so sshd cannot tell a bastion's tunnel
// from a direct login. Inside the namespace nothing listens unless `expose` bridges one address:port
// to the host's (over a unix socket, which crosses namespaces); whatever is not exposed is refused.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killOnExit } from "./processes.js";

export interface Netns {
  readonly name: string;
  /** argv prefix that runs a command inside the namespace. */
  readonly exec: readonly string[];
  /** Makes address:port of the host reachable inside the namespace at the same address:port. */
  expose(address: string, port: number): Promise<void>;
  close(): void;
}

// Runs inside the namespace: listen on address:port, pipe each connection to the unix socket.
const INSIDE = `
const net = require("node:net");
const [address, port, sock] = process.argv.slice(1);
net.createServer((c) => { const u = net.connect(sock); c.pipe(u).pipe(c); c.on("error", () => u.destroy()); u.on("error", () => c.destroy()); })
  .listen(Number(port), address, () => process.stdout.write("ready\\n"));
`;

export async function createNetns(prefix: string): Promise<Netns> {
  const name = `${prefix}-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), "tsync-netns-"));
  const children: ChildProcess[] = [];
  const servers: net.Server[] = [];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const c of children) c.kill("SIGKILL");
    for (const s of servers) s.close();
    try {
      execFileSync("ip", ["netns", "del", name], { stdio: "ignore" });
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  killOnExit(close);
  execFileSync("ip", ["netns", "add", name]);
  execFileSync("ip", ["netns", "exec", name, "ip", "link", "set", "lo", "up"]);
  const exec = ["ip", "netns", "exec", name];
  return {
    name,
    exec,
    async expose(address, port) {
      const sock = join(dir, `${address}-${port}.sock`);
      const srv = net.createServer((c) => {
        const t = net.connect(port, address);
        c.pipe(t).pipe(c);
        c.on("error", () => t.destroy());
        t.on("error", () => c.destroy());
      });
      servers.push(srv);
      await new Promise<void>((r) => srv.listen(sock, r));
      srv.unref();
      const child = spawn(exec[0]!, [...exec.slice(1), process.execPath, "-e", INSIDE, address, String(port), sock], { stdio: ["ignore", "pipe", "inherit"] });
      children.push(child);
      child.unref();
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once("data", () => resolve());
        child.once("exit", (code) => reject(new Error(`netns bridge for ${address}:${port} exited (${code})`)));
      });
      (child.stdout as unknown as { unref?: () => void }).unref?.();
    },
    close,
  };
}
