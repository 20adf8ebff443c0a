// Real nginx for tests: the Debian binary with its own prefix in a temp dir (pid, logs, temp paths
// inside it), on 127.0.0.x, plus tiny Node HTTP backends that answer with their own name so a test
// sees which node served a request. Everything started here is killed at process exit.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Host, Manifest } from "../../reconciler/model/manifest.js";
import { killOnExit } from "./processes.js";

const live = new Set<ChildProcess>();
const killLive = () => {
  for (const c of live) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, "SIGKILL");
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function sh(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1;
      resolve({ code, output: stdout + stderr });
    });
  });
}

export interface Nginx {
  readonly prefix: string;
  /** The site config tsync manages (http context, included by the main config). */
  readonly confPath: string;
  /** The main config (`-c`). */
  readonly mainConfPath: string;
  readonly testCommand: string;
  readonly reloadCommand: string;
  /** http://LISTEN */
  readonly url: string;
  /** Run `nginx -t` on the current files. */
  test(): Promise<{ code: number; output: string }>;
  /** `nginx -s reload`, then wait until only new workers are left. */
  reload(): Promise<void>;
  /** Current worker pids (children of the master). */
  workers(): number[];
  /** Wait until none of `before` is still a worker (a reload took effect and old workers drained). */
  waitReloaded(before: readonly number[]): Promise<void>;
  errorLog(): string;
  /** Kill nginx; the prefix is removed unless `keep` (then its path is printed: logs are in it). */
  stop(opts?: { keep?: boolean }): Promise<void>;
}

export interface NginxOptions {
  /** Initial site config; absent: a placeholder answering "placeholder" on `listen`. */
  readonly confText?: string;
  /** "127.0.0.1:PORT": where the site listens (for `url` and readiness). */
  readonly listen: string;
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      // comm may contain spaces and parens: fields resume after the last ")".
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(rest[1]) === pid && rest[0] !== "Z") out.push(Number(d));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

async function canConnect(hostPort: string): Promise<boolean> {
  const i = hostPort.lastIndexOf(":");
  return new Promise((resolve) => {
    const s = net.connect({ host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) });
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

export async function startNginx(opts: NginxOptions): Promise<Nginx> {
  killOnExit(killLive);
  const prefix = mkdtempSync(join(tmpdir(), "tsync-nginx-"));
  for (const d of ["logs", "tmp", "conf.d"]) mkdirSync(join(prefix, d));
  const confPath = join(prefix, "conf.d", "site.conf");
  const mainConfPath = join(prefix, "nginx.conf");
  const errorLogPath = join(prefix, "logs", "error.log");
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((k) => `  ${k}_temp_path ${join(prefix, "tmp", k)};`);
  writeFileSync(
    mainConfPath,
    [
      // As root, workers would drop to nobody and lose access to the 0700 temp prefix.
      ...(isRoot ? ["user root;"] : []),
      "worker_processes 2;",
      `pid ${join(prefix, "logs", "nginx.pid")};`,
      `error_log ${errorLogPath} notice;`,
      "events { worker_connections 256; }",
      "http {",
      "  log_format tsync '$remote_addr \"$request\" $status upstream=$upstream_addr';",
      `  access_log ${join(prefix, "logs", "access.log")} tsync;`,
      ...temp,
      `  include ${confPath};`,
      "}",
      "",
    ].join("\n"),
  );
  const placeholder = `server {\n  listen ${opts.listen};\n  location / { return 200 "placeholder\\n"; }\n}\n`;
  writeFileSync(confPath, opts.confText ?? placeholder);
  const base = ["-p", prefix, "-c", mainConfPath, "-e", errorLogPath];
  const testCommand = ["nginx", "-t", ...base].map(shq).join(" ");
  const reloadCommand = ["nginx", "-s", "reload", ...base].map(shq).join(" ");

  const child = spawn("nginx", [...base, "-g", "daemon off;"], { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let output = "";
  child.stdout!.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => (live.delete(child), r())));
  const errorLog = (): string => (existsSync(errorLogPath) ? readFileSync(errorLogPath, "utf8") : "");
  const masterPid = child.pid!;

  const workers = (): number[] => childrenOf(masterPid);
  const waitReloaded = async (before: readonly number[]): Promise<void> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = workers();
      if (now.length > 0 && !now.some((p) => before.includes(p))) return;
      if (Date.now() > deadline) throw new Error(`nginx did not reload (workers ${now.join(",")}): ${errorLog().slice(-2000)}`);
      await sleep(20);
    }
  };
  const stop = async (o?: { keep?: boolean }): Promise<void> => {
    if (child.exitCode === null) {
      child.kill("SIGQUIT");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
    if (o?.keep) console.error(`nginx test prefix kept: ${prefix}`);
    else rmSync(prefix, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  while (!(await canConnect(opts.listen)) || workers().length === 0) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop({ keep: true });
      throw new Error(`nginx did not start on ${opts.listen}: ${output.trim()} ${errorLog().slice(-2000)}`);
    }
    await sleep(20);
  }

  return {
    prefix,
    confPath,
    mainConfPath,
    testCommand,
    reloadCommand,
    url: `http://${opts.listen}`,
    test: () => sh("nginx", ["-t", ...base]),
    async reload() {
      const before = workers();
      const r = await sh("nginx", ["-s", "reload", ...base]);
      if (r.code !== 0) throw new Error(`nginx reload failed: ${r.output}`);
      await waitReloaded(before);
    },
    workers,
    waitReloaded,
    errorLog,
    stop,
  };
}

export interface Hit {
  readonly backend: string;
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

export interface Backends {
  readonly hits: Hit[];
  /** Requests per backend name since the last reset (every backend present, 0 when unused). */
  counts(): Map<string, number>;
  reset(): void;
  close(): Promise<void>;
}

/**
 * One HTTP server per backend on `address:port`, answering `NAME\n` with `X-Backend: NAME`, or, with
 * `root`, serving files from `root/NAME` (404 when absent) so a test can serve a synced tree.
 */
export async function startHttpBackends(
  backends: Readonly<Record<string, string>> | readonly string[],
  port: number,
  opts: { root?: string } = {},
): Promise<Backends> {
  const entries: [string, string][] = Array.isArray(backends)
    ? (backends as readonly string[]).map((a) => [a, a])
    : Object.entries(backends as Record<string, string>);
  const hits: Hit[] = [];
  const servers: http.Server[] = [];
  for (const [name, address] of entries) {
    const srv = http.createServer((req, res) => {
      hits.push({ backend: name, method: req.method ?? "", url: req.url ?? "", headers: req.headers });
      res.setHeader("X-Backend", name);
      if (opts.root === undefined) {
        res.end(`${name}\n`);
        return;
      }
      const rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const file = join(opts.root, name, rel.endsWith("/") ? `${rel}index.html` : rel);
      if (rel.includes("/../") || !existsSync(file)) {
        res.statusCode = 404;
        res.end(`${name}: not found\n`);
        return;
      }
      res.end(readFileSync(file));
    });
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(port, address, () => resolve());
    });
    servers.push(srv);
  }
  return {
    hits,
    counts() {
      const m = new Map<string, number>(entries.map(([n]) => [n, 0]));
      for (const h of hits) m.set(h.backend, (m.get(h.backend) ?? 0) + 1);
      return m;
    },
    reset() {
      hits.length = 0;
    },
    async close() {
      await Promise.all(servers.map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))));
    },
  };
}

/** One request on a fresh connection (no keep-alive, so a reload's old workers cannot answer it). */
export function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; backend?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { Connection: "close", ...headers } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        const b = res.headers["x-backend"];
        resolve({ status: res.statusCode ?? 0, body, ...(typeof b === "string" ? { backend: b } : {}) });
      });
    });
    req.once("error", reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url}: timeout`)));
  });
}

/** A resolved Manifest with just what nginx rendering reads, built by hand (no YAML). */
export function nginxManifest(opts: {
  file?: string;
  hosts: Readonly<Record<string, { address: string; roles: readonly string[] }>>;
  upstreams: Readonly<Record<string, { roles: readonly string[]; port?: number }>>;
  servers: readonly { names: readonly string[]; listen: string; locations: Readonly<Record<string, string>> }[];
  path?: string;
  host?: string;
  test?: string;
  reload?: string;
  drifted?: "keep" | "down";
}): Manifest {
  const hosts = new Map<string, Host>();
  for (const [name, h] of Object.entries(opts.hosts)) {
    hosts.set(name, { name, address: h.address, port: 22, user: "deploy", knownHosts: "/dev/null", hostKeyChecking: "strict", roles: h.roles });
  }
  const upstreams = Object.entries(opts.upstreams).map(([name, u]) => ({
    name,
    roles: u.roles,
    hosts: [...hosts.values()].filter((h) => h.roles.some((r) => u.roles.includes(r))).map((h) => h.name),
    ...(u.port === undefined ? {} : { port: u.port }),
  }));
  return {
    file: opts.file ?? "tsync.yaml",
    digest: "0".repeat(64),
    settings: { maxProcesses: 5 },
    hosts,
    syncs: [],
    nginx: {
      ...(opts.host === undefined ? {} : { host: opts.host }),
      path: opts.path ?? "/etc/nginx/conf.d/site.conf",
      test: opts.test ?? "nginx -t",
      reload: opts.reload ?? "nginx -s reload",
      upstreams,
      servers: opts.servers.map((s) => ({
        names: s.names,
        listen: s.listen,
        locations: Object.entries(s.locations).map(([match, upstream]) => ({ match, upstream })),
      })),
      drifted: opts.drifted ?? "keep",
    },
  };
}

/** fixtures/seed/tsync.yaml (the seed's fleet) built by hand, for tests that mutate it field by field. */
export function seedManifest(file = "fixtures/seed/tsync.yaml"): Manifest {
  return nginxManifest({
    file,
    hosts: {
      master: { address: "10.0.1.20", roles: ["master"] },
      "www-01": { address: "10.0.1.21", roles: ["replica"] },
      "www-02": { address: "10.0.1.22", roles: ["replica"] },
      "www-03": { address: "10.0.1.23", roles: ["replica"] },
    },
    upstreams: { backend: { roles: ["master", "replica"] }, admin: { roles: ["master"] } },
    servers: [{ names: ["tjstein.com", "www.tjstein.com"], listen: "80", locations: { "/": "backend", "~ /wp-admin/": "admin" } }],
    path: "/etc/nginx/conf.d/tjstein.com.conf",
    host: "master",
  });
}
