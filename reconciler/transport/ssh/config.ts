// How a Host is reached, as OpenSSH would reach it: the manifest's keys first, then the OpenSSH client
// config (parsed by `ssh-config`, with Include expanded here because the library leaves it a plain
// directive), then OpenSSH's built-in defaults. The result is an Endpoint: everything connect needs.
import { readFileSync, readdirSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { dirname, join, posix } from "node:path";
import SSHConfig, { LineType, type Line } from "ssh-config";
import { defaultUser, expandHome, parseHop } from "../../manifest/normalize.js";
import { TransportError, errorMessage } from "../../model/errors.js";
import type { Host, HostKeyChecking } from "../../model/manifest.js";

export interface Endpoint {
  /** The manifest host name, or the hop as written (`deploy@10.0.0.1:2222`). */
  readonly name: string;
  /** `address` as written (an ssh config alias, perhaps). */
  readonly alias: string;
  /** What is dialled: ssh config HostName, else the alias. */
  readonly hostname: string;
  readonly port: number;
  readonly user: string;
  /** Private key files named by the manifest or ssh config; empty: the agent and ~/.ssh/id_*. */
  readonly identityFiles: readonly string[];
  /** true when the manifest named the key: its problems are reported, not skipped. */
  readonly identityFromManifest: boolean;
  /** OpenSSH's IdentitiesOnly: only agent keys matching identityFiles are offered. */
  readonly identitiesOnly: boolean;
  readonly knownHosts: string;
  readonly hostKeyChecking: HostKeyChecking;
  readonly passphraseEnv?: string;
  /** Hops dialled before this endpoint, first is dialled directly. */
  readonly jumps: readonly Endpoint[];
  readonly connectTimeoutMs?: number;
  readonly serverAliveIntervalMs?: number;
  readonly serverAliveCountMax?: number;
}

const MAX_INCLUDE_DEPTH = 16; // OpenSSH's READCONF_MAX_DEPTH
const MAX_HOPS = 8;

function fail(name: string, detail: string): TransportError {
  return new TransportError(name, "ssh-config", detail);
}

function values(v: Line & { value?: unknown }): string[] {
  const raw = (v as { value: string | { val: string }[] }).value;
  return Array.isArray(raw) ? raw.map((x) => x.val) : raw.split(/\s+/).filter(Boolean);
}

/** Shell-style glob of one path component: `*` and `?` (what Include patterns use in practice). */
function globComponent(pattern: string): RegExp {
  return new RegExp("^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]") + "$");
}

/** Files an Include pattern names, sorted per directory as glob(3) returns them; none is fine. */
function expandGlob(pattern: string): string[] {
  let paths = ["/"];
  for (const part of pattern.split("/").filter(Boolean)) {
    if (!/[*?]/.test(part)) {
      paths = paths.map((p) => join(p, part));
      continue;
    }
    const re = globComponent(part);
    paths = paths.flatMap((p) => {
      try {
        return readdirSync(p).filter((n) => re.test(n) && !(n.startsWith(".") && !part.startsWith("."))).sort().map((n) => join(p, n));
      } catch {
        return [];
      }
    });
  }
  return paths;
}

type Parsed = Line[];

function parseFile(path: string, includeBase: string, depth: number, owner: string): Parsed {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EISDIR") return [];
    throw fail(owner, `cannot read ssh config ${path}: ${code ?? errorMessage(err)}`);
  }
  let conf: Parsed;
  try {
    conf = [...SSHConfig.parse(text)];
  } catch (err) {
    throw fail(owner, `cannot parse ssh config ${path}: ${errorMessage(err)}`);
  }
  return expandIncludes(conf, path, includeBase, depth, owner);
}

// An Include inside a Host/Match block applies under that block; Host/Match blocks of the included file
// follow the block they were included from (they open their own condition in OpenSSH too).
function expandIncludes(lines: Parsed, file: string, includeBase: string, depth: number, owner: string): Parsed {
  const out: Parsed = [];
  for (const line of lines) {
    if (line.type !== LineType.DIRECTIVE) continue;
    if (/^include$/i.test(line.param)) {
      if (depth >= MAX_INCLUDE_DEPTH) throw fail(owner, `ssh config ${file}: Include nested deeper than ${MAX_INCLUDE_DEPTH} (a loop?)`);
      for (const pattern of values(line)) {
        const abs = expandHome(pattern).startsWith("/") ? expandHome(pattern) : join(includeBase, pattern);
        for (const f of expandGlob(abs)) out.push(...parseFile(f, includeBase, depth + 1, owner));
      }
    } else if ("config" in line) {
      const inner = expandIncludes([...line.config], file, includeBase, depth, owner);
      const own = inner.filter((l) => !("config" in l));
      const sections = inner.filter((l) => "config" in l);
      out.push({ ...line, config: own as unknown as SSHConfig }, ...sections);
    } else {
      out.push(line);
    }
  }
  return out;
}

/** The files' lines in order (first value wins); relative Includes as OpenSSH resolves them. */
export function readSshConfig(files: readonly string[], owner: string): SSHConfig {
  const conf = SSHConfig.parse("");
  const systemDir = "/etc/ssh";
  for (const f of files) {
    // OpenSSH: relative Includes are under ~/.ssh in a user config, under /etc/ssh in the system one.
    const base = dirname(f) === systemDir ? systemDir : join(homedir(), ".ssh");
    conf.push(...parseFile(f, base, 0, owner));
  }
  return conf;
}

/** %-tokens and ~ in IdentityFile/UserKnownHostsFile (ssh_config(5) TOKENS, the ones that apply here). */
export function expandTokens(s: string, t: { hostname: string; alias: string; user: string; port: number }): string {
  let local = "";
  let uid = "";
  try {
    const u = userInfo();
    local = u.username;
    uid = String(u.uid);
  } catch {
    local = process.env.USER ?? "";
  }
  const expanded = s.replace(/%([%dhnprui])/g, (_, c: string) => {
    switch (c) {
      case "%": return "%";
      case "d": return homedir();
      case "h": return t.hostname;
      case "n": return t.alias;
      case "p": return String(t.port);
      case "r": return t.user;
      case "u": return local;
      case "i": return uid;
      default: return _;
    }
  });
  return expandHome(expanded);
}

type Computed = Record<string, string | string[] | undefined>;

function first(c: Computed, key: string): string | undefined {
  const v = c[key.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function seconds(c: Computed, key: string, owner: string): number | undefined {
  const v = first(c, key);
  if (v === undefined || v === "none") return undefined;
  if (!/^[0-9]+$/.test(v)) throw fail(owner, `ssh config ${key} ${JSON.stringify(v)} is not a number of seconds`);
  return Number(v) * 1000;
}

/** Everything needed to connect to `host`; bad ssh config is a TransportError naming the file or value. */
export function resolveEndpoint(host: Host): Endpoint | TransportError {
  try {
    return resolve(host, 0, host.proxyJump);
  } catch (err) {
    if (err instanceof TransportError) return err;
    throw err;
  }
}

function resolve(host: Host, depth: number, chain: readonly Host[] | undefined): Endpoint {
  const files = host.sshConfig ?? [];
  const c: Computed = files.length === 0 ? {} : (readSshConfig(files, host.name).compute({ Host: host.address, ...(host.user !== undefined ? { User: host.user } : {}) }, { ignoreCase: true, matchExec: false }) as Computed);
  const hostname = first(c, "HostName") ?? host.address;
  const portRaw = first(c, "Port");
  if (portRaw !== undefined && !/^[0-9]{1,5}$/.test(portRaw)) throw fail(host.name, `ssh config Port ${JSON.stringify(portRaw)} is not a port number`);
  const port = host.port ?? (portRaw !== undefined ? Number(portRaw) : 22);
  const user = host.user ?? first(c, "User") ?? defaultUser();
  const tokens = { hostname: hostname.replace(/%h/g, host.address), alias: host.address, user, port };
  const fromConfig = (key: string): string[] => {
    const v = c[key.toLowerCase()];
    return (v === undefined ? [] : Array.isArray(v) ? v : [v]).map((p) => expandTokens(p, tokens));
  };
  const identityFiles = host.identityFile !== undefined ? [host.identityFile] : fromConfig("IdentityFile");
  const knownHosts = host.knownHosts ?? fromConfig("UserKnownHostsFile")[0] ?? posix.join(homedir(), ".ssh/known_hosts");
  const identitiesOnly = /^yes$/i.test(first(c, "IdentitiesOnly") ?? "no");
  let jumps: Endpoint[];
  if (chain !== undefined) {
    // The manifest's chain is already flattened (each hop's own chain before it).
    jumps = chain.map((hop) => resolve(hop, depth + 1, []));
  } else {
    const pj = first(c, "ProxyJump");
    jumps = [];
    if (pj !== undefined && pj !== "none") {
      if (depth >= MAX_HOPS) throw fail(host.name, `ssh config ProxyJump chain longer than ${MAX_HOPS} hops (a loop?)`);
      for (const spec of pj.split(",")) {
        const p = parseHop(spec.replace(/^ssh:\/\//, ""));
        if (p === undefined) throw fail(host.name, `ssh config ProxyJump ${JSON.stringify(spec)} is not [user@]host[:port]`);
        // A hop from ssh config is looked up in the same config (its own ProxyJump too), as `ssh -J` does.
        const hop: Host = { name: spec, address: p.address, hostKeyChecking: host.hostKeyChecking, roles: [], sshConfig: files, ...(p.user !== undefined ? { user: p.user } : {}), ...(p.port !== undefined ? { port: p.port } : {}), ...(host.knownHosts !== undefined ? { knownHosts: host.knownHosts } : {}), ...(host.identityFile !== undefined ? { identityFile: host.identityFile } : {}) };
        const e = resolve(hop, depth + 1, undefined);
        jumps.push(...e.jumps, { ...e, jumps: [] });
      }
    }
  }
  const connectTimeoutMs = seconds(c, "ConnectTimeout", host.name);
  const serverAliveIntervalMs = seconds(c, "ServerAliveInterval", host.name);
  const countRaw = first(c, "ServerAliveCountMax");
  const serverAliveCountMax = countRaw !== undefined && /^[0-9]+$/.test(countRaw) ? Number(countRaw) : undefined;
  return {
    name: host.name,
    alias: host.address,
    hostname,
    port,
    user,
    identityFiles,
    identityFromManifest: host.identityFile !== undefined,
    identitiesOnly,
    knownHosts,
    hostKeyChecking: host.hostKeyChecking,
    ...(host.passphraseEnv !== undefined ? { passphraseEnv: host.passphraseEnv } : {}),
    jumps,
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
    ...(serverAliveIntervalMs ? { serverAliveIntervalMs } : {}),
    ...(serverAliveCountMax !== undefined ? { serverAliveCountMax } : {}),
  };
}
