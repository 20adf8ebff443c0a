// The control channel between the CLI and a running `tsync watch`: a unix socket next to the status
// file, mode 0600 (only its owner, and root, can connect), never TCP. One JSON request per connection,
// one JSON answer; `tsync wait`, `pause` and `resume` are its clients.
import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import net from "node:net";

export type ControlRequest =
  | { readonly op: "wait"; readonly syncs?: readonly string[]; readonly targets?: readonly string[]; readonly timeoutMs: number }
  | { readonly op: "pause"; readonly what: string }
  | { readonly op: "resume"; readonly what?: string };

const MAX_REQUEST = 64 * 1024;

export function controlSocketFor(statusFile: string): string {
  return `${statusFile}.sock`;
}

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** A request as sent, checked field by field: the socket is the daemon's only input besides the manifest. */
export function parseRequest(text: string): ControlRequest | string {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return "not JSON";
  }
  const strings = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((x) => typeof x === "string"));
  if (j?.op === "wait" && typeof j.timeoutMs === "number" && j.timeoutMs >= 0 && strings(j.syncs) && strings(j.targets))
    return { op: "wait", timeoutMs: j.timeoutMs, ...(j.syncs ? { syncs: j.syncs as string[] } : {}), ...(j.targets ? { targets: j.targets as string[] } : {}) };
  if (j?.op === "pause" && typeof j.what === "string" && j.what !== "") return { op: "pause", what: j.what };
  if (j?.op === "resume" && (j.what === undefined || (typeof j.what === "string" && j.what !== ""))) return { op: "resume", ...(j.what ? { what: j.what } : {}) };
  return `unknown request ${JSON.stringify(j?.op ?? null)}`;
}

function connects(path: string): Promise<boolean> {
  return new Promise((res) => {
    const c = net.connect(path, () => (c.destroy(), res(true)));
    c.on("error", () => res(false));
  });
}

/**
 * Listens on `path`. A socket left there by a daemon that died is replaced; one a live daemon answers
 * on is an error (two daemons on one status file would fight over it), as is anything else at the path.
 */
export async function serveControl(path: string, handle: (req: ControlRequest) => Promise<unknown>): Promise<ControlServer> {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st) {
    if (!st.isSocket()) throw new Error(`control socket ${path}: something else is there (not a socket); remove it`);
    if (await connects(path)) throw new Error(`control socket ${path}: another \`tsync watch\` is running with this status file`);
    unlinkSync(path);
  }
  const server = net.createServer((conn) => {
    let buf = "";
    conn.setEncoding("utf8");
    conn.on("error", () => {});
    conn.on("data", (d: string) => {
      buf += d;
      if (buf.length > MAX_REQUEST) return void conn.end(JSON.stringify({ ok: false, error: "request too large" }) + "\n");
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      conn.removeAllListeners("data");
      const req = parseRequest(buf.slice(0, nl));
      const answer = typeof req === "string" ? Promise.resolve({ ok: false, error: req }) : handle(req);
      void answer
        .catch((err: unknown) => ({ ok: false, error: `internal error: ${(err as Error).message}` }))
        .then((a) => conn.end(JSON.stringify(a) + "\n"));
    });
  });
  // Created 0600: the umask covers the moment between bind and chmod.
  const old = process.umask(0o177);
  try {
    await new Promise<void>((res, rej) => {
      server.once("error", rej);
      server.listen(path, () => res());
    });
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
  return {
    path,
    close: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }),
  };
}

/** Sends one request; the answer, or a one-line error when no daemon listens there. */
export function askControl(path: string, req: ControlRequest, timeoutMs: number): Promise<{ ok: true; answer: Record<string, unknown> } | { ok: false; error: string }> {
  return new Promise((res) => {
    const c = net.connect(path);
    let buf = "";
    const timer = setTimeout(() => (c.destroy(), res({ ok: false, error: `no answer from the daemon on ${path} within ${Math.round(timeoutMs / 1000)} s` })), timeoutMs);
    c.setEncoding("utf8");
    c.on("connect", () => c.write(JSON.stringify(req) + "\n"));
    c.on("data", (d: string) => (buf += d));
    c.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const none = err.code === "ENOENT" || err.code === "ECONNREFUSED";
      res({ ok: false, error: none ? `no running \`tsync watch\` here (no control socket at ${path})` : `cannot reach the daemon on ${path}: ${err.message}` });
    });
    c.on("end", () => {
      clearTimeout(timer);
      try {
        res({ ok: true, answer: JSON.parse(buf) as Record<string, unknown> });
      } catch {
        res({ ok: false, error: `the daemon on ${path} answered something that is not JSON` });
      }
    });
  });
}
