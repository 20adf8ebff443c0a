// Written shape (schema-valid, rule-checked) → the resolved Manifest: defaults merged into every host,
// `~` expanded and local paths resolved against the manifest's directory, roles expanded into one
// target per matching host, upstream hosts resolved.

import { homedir, userInfo } from "node:os";
import { posix } from "node:path";
import type { Host, Location, Manifest, NginxSettings, Sync } from "../model/manifest.js";
import { parseDuration, parseLimit } from "./units.js";

// ---- the written shape, as schemas/manifest.schema.json admits it ----
export interface RawConnection {
  user?: string;
  port?: number;
  identityFile?: string;
  knownHosts?: string;
  hostKeyChecking?: "strict" | "accept-new";
  sshConfig?: boolean | string;
  proxyJump?: string;
  passphraseEnv?: string;
  sudo?: boolean;
}
export interface RawHost extends RawConnection {
  address: string;
  roles?: string[];
  web?: string;
}
export type RawLocation = string | { host?: string; path: string };
export interface RawRoleTargets {
  roles: string[];
  path: string;
}
export interface RawSync {
  source: RawLocation;
  targets: RawLocation[] | RawRoleTargets;
  exclude?: string[];
  protect?: string[];
  delete?: boolean;
  maxDelete?: string | number;
  preserve?: ("perms" | "times" | "owner" | "group" | "hardlinks")[];
  delay?: string;
  audit?: { quick?: string; deep?: string };
  onDrift?: "heal" | "report";
  chown?: string;
  followRoot?: boolean;
  rootMetadata?: boolean;
  onChange?: { run: string; paths?: string[]; timeout?: string }[];
}
export interface RawNginx {
  host?: string;
  path: string;
  test?: string;
  reload?: string;
  upstreams: Record<string, { roles: string[]; port?: number }>;
  servers: { names: string[]; listen?: number | string; locations: Record<string, string> }[];
  drifted?: "keep" | "down";
}
export interface RawManifest {
  version: 1;
  defaults?: RawConnection;
  settings?: { maxProcesses?: number; statusFile?: string; logFile?: string; metrics?: string; hashCache?: string | false };
  hosts?: Record<string, RawHost>;
  syncs?: Record<string, RawSync>;
  nginx?: RawNginx;
}

/** What an absent key means. The schema documents the same values under `default` (a test keeps them equal). */
export const DEFAULTS = {
  port: 22,
  knownHosts: "~/.ssh/known_hosts",
  hostKeyChecking: "strict",
  sshConfig: true,
  maxProcesses: 5,
  exclude: [] as string[],
  protect: [] as string[],
  delete: true,
  preserve: ["perms", "times"],
  delay: "1s",
  auditQuick: "*/5 * * * *",
  onDrift: "heal",
  followRoot: true,
  rootMetadata: true,
  hookTimeout: "60s",
  nginxTest: "nginx -t",
  nginxReload: "nginx -s reload",
  drifted: "keep",
  listen: 80,
} as const;

/** The login user when neither the host nor `defaults` names one: whoever runs tsync, like ssh itself. */
export function defaultUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? "root";
  }
}

/** "127.0.0.1:9184" or "[::1]:9184" (schema-checked) → host and port; the port is checked by the rules. */
export function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  const host = s.slice(0, i);
  return { host: host.startsWith("[") ? host.slice(1, -1) : host, port: Number(s.slice(i + 1)) };
}

/** "~" and "~/x" → the home directory; anything else unchanged ("~bob/x" is not expanded). */
export function expandHome(p: string): string {
  if (p === "~") return homedir();
  return p.startsWith("~/") ? posix.join(homedir(), p.slice(2)) : p;
}

/** The directory relative paths in the manifest `file` are resolved against (SPEC §6). */
export function manifestDir(file: string): string {
  return posix.dirname(posix.resolve(file));
}

/**
 * A path on this machine: `~/` expanded, then a relative path resolved against the manifest's directory,
 * so a manifest committed with `knownHosts: deploy/known_hosts` works from whatever directory it is run.
 */
export function resolveLocalPath(p: string, baseDir: string): string {
  return normalizePath(posix.resolve(baseDir, expandHome(p)));
}

/** Absolute, normalized, no trailing slash except "/" itself. */
export function normalizePath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/**
 * A remote "~/DIR" (SPEC §6): DIR below the login directory, as rsync's `host:DIR`; the SSH transport
 * resolves it at connect. Normalized ("~/a/b"); undefined for ~user, "~" itself or a ".." segment.
 */
export function loginRelative(p: string): string | undefined {
  if (!p.startsWith("~/")) return undefined;
  const segs = p.slice(2).split("/").filter((s) => s !== "" && s !== ".");
  return segs.length === 0 || segs.includes("..") ? undefined : `~/${segs.join("/")}`;
}

/** Splits a written location without judging it: "HOST:/p" → {host, path}; "/p", "~/p", "p" → {path}. */
export function splitLocation(raw: RawLocation): { host?: string; path: string } {
  if (typeof raw !== "string") return raw.host === undefined ? { path: raw.path } : { host: raw.host, path: raw.path };
  if (raw.startsWith("/") || raw.startsWith("~")) return { path: raw };
  const colon = raw.indexOf(":");
  return colon > 0 ? { host: raw.slice(0, colon), path: raw.slice(colon + 1) } : { path: raw };
}

/** A path on a host: absolute, or ~/DIR (the rules have refused anything else). */
function remotePath(p: string): string {
  return loginRelative(p) ?? normalizePath(p);
}

/** A resolved Location: local paths resolved (resolveLocalPath); a remote one absolute or ~/DIR (the rules say so). */
export function resolveLocation(raw: RawLocation, baseDir: string): Location {
  const { host, path } = splitLocation(raw);
  return host === undefined ? { path: resolveLocalPath(path, baseDir) } : { host, path: remotePath(path) };
}

/** Host names having one of `roles`, in manifest order. */
export function hostsWithRoles(hosts: Record<string, RawHost>, roles: readonly string[]): string[] {
  return Object.entries(hosts)
    .filter(([, h]) => (h.roles ?? []).some((r) => roles.includes(r)))
    .map(([name]) => name);
}

export function isRoleTargets(t: RawSync["targets"]): t is RawRoleTargets {
  return !Array.isArray(t);
}

/** OpenSSH's own order: the user's config, then the system-wide one. */
export const SSH_CONFIG_FILES = ["~/.ssh/config", "/etc/ssh/ssh_config"];

/** A written sshConfig PATH resolves against the manifest's directory, like every local path in it. */
export function sshConfigFiles(v: boolean | string, baseDir: string): string[] {
  if (v === false) return [];
  return v === true ? SSH_CONFIG_FILES.map(expandHome) : [resolveLocalPath(v, baseDir)];
}

/** One written jump hop: `[user@]host[:port]` (a host name of the manifest is looked up first). */
export function parseHop(spec: string): { user?: string; address: string; port?: number } | undefined {
  const m = /^(?:([^@:]+)@)?(\[[0-9A-Fa-f:.]+\]|[^@:[\]]+)(?::([0-9]{1,5}))?$/.exec(spec);
  if (!m) return undefined;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { ...(m[1] !== undefined ? { user: m[1] } : {}), address: m[2]!.replace(/^\[|\]$/g, ""), ...(port !== undefined ? { port } : {}) };
}

/** A host's written chain. One named in defaults.proxyJump takes only the hops before it (a bastion does not jump through itself). */
export function proxyJumpOf(name: string, h: RawHost, d: RawConnection): string | undefined {
  if (h.proxyJump !== undefined || d.proxyJump === undefined || d.proxyJump === "none") return h.proxyJump ?? d.proxyJump;
  const hops = d.proxyJump.split(",");
  const at = hops.indexOf(name);
  return at < 0 ? d.proxyJump : at === 0 ? "none" : hops.slice(0, at).join(",");
}

export function normalize(raw: RawManifest, file: string, digest: string): Manifest {
  const rawHosts = raw.hosts ?? {};
  const d = raw.defaults ?? {};
  const base = manifestDir(file);
  // The built-in default user only when ssh config is off: otherwise its User applies first.
  const connection = (c: RawConnection): Omit<Host, "name" | "address" | "roles"> => {
    const identityFile = c.identityFile ?? d.identityFile;
    const knownHosts = c.knownHosts ?? d.knownHosts;
    const port = c.port ?? d.port;
    const user = c.user ?? d.user;
    const passphraseEnv = c.passphraseEnv ?? d.passphraseEnv;
    return {
      ...(port !== undefined ? { port } : {}),
      ...(user !== undefined ? { user } : {}),
      ...(identityFile !== undefined ? { identityFile: resolveLocalPath(identityFile, base) } : {}),
      ...(knownHosts !== undefined ? { knownHosts: resolveLocalPath(knownHosts, base) } : {}),
      hostKeyChecking: c.hostKeyChecking ?? d.hostKeyChecking ?? DEFAULTS.hostKeyChecking,
      sshConfig: sshConfigFiles(c.sshConfig ?? d.sshConfig ?? DEFAULTS.sshConfig, base),
      ...(passphraseEnv !== undefined ? { passphraseEnv } : {}),
      ...((c.sudo ?? d.sudo) === true ? { sudo: true } : {}),
    };
  };
  const hosts = new Map<string, Host>();
  // A hop naming a manifest host brings that host's own chain first (as `ssh -J` does for a jump
  // host's ProxyJump); the rules have rejected cycles and malformed hops, so this terminates.
  const resolving = (name: string): Host => {
    const done = hosts.get(name);
    if (done) return done;
    const h = rawHosts[name]!;
    const jump = proxyJumpOf(name, h, d);
    const proxyJump = jump === undefined ? undefined : jump === "none" ? [] : jump.split(",").flatMap((spec) => hopChain(spec, h));
    const host: Host = {
      name,
      address: h.address,
      ...connection(h),
      roles: h.roles ?? [],
      ...(proxyJump !== undefined ? { proxyJump } : {}),
      ...(h.web !== undefined ? { web: h.web } : {}),
    };
    hosts.set(name, host);
    return host;
  };
  const hopChain = (spec: string, from: RawHost): Host[] => {
    if (rawHosts[spec] !== undefined) {
      const hop = resolving(spec);
      return [...(hop.proxyJump ?? []), hop];
    }
    const p = parseHop(spec)!;
    // An ad-hoc hop logs in like the host it leads to unless it says otherwise.
    const c = connection(from);
    return [{ ...c, name: spec, address: p.address, ...(p.user !== undefined ? { user: p.user } : {}), ...(p.port !== undefined ? { port: p.port } : {}), roles: [] }];
  };
  const ordered = new Map<string, Host>();
  for (const name of Object.keys(rawHosts)) ordered.set(name, resolving(name));
  const syncs: Sync[] = Object.entries(raw.syncs ?? {}).map(([name, s]) => normalizeSync(name, s, rawHosts, base));
  const set = raw.settings ?? {};
  return {
    file,
    digest,
    settings: {
      maxProcesses: set.maxProcesses ?? DEFAULTS.maxProcesses,
      ...(set.statusFile !== undefined ? { statusFile: resolveLocalPath(set.statusFile, base) } : {}),
      ...(set.logFile !== undefined ? { logFile: resolveLocalPath(set.logFile, base) } : {}),
      ...(set.metrics !== undefined ? { metrics: splitHostPort(set.metrics) } : {}),
      ...(set.hashCache !== undefined ? { hashCache: set.hashCache === false ? false : resolveLocalPath(set.hashCache, base) } : {}),
    },
    hosts: ordered,
    syncs,
    ...(raw.nginx ? { nginx: normalizeNginx(raw.nginx, rawHosts, base) } : {}),
  };
}

function normalizeSync(name: string, s: RawSync, hosts: Record<string, RawHost>, base: string): Sync {
  const t = s.targets;
  const targets = isRoleTargets(t)
    ? hostsWithRoles(hosts, t.roles).map((host) => ({ host, path: remotePath(t.path) }))
    : t.map((loc) => resolveLocation(loc, base));
  const preserve: readonly string[] = s.preserve ?? DEFAULTS.preserve;
  const protect = s.protect ?? DEFAULTS.protect;
  const maxDelete = s.maxDelete === undefined ? undefined : parseLimit(s.maxDelete);
  // The quick audit is on unless switched "off": chokidar has no fallback when inotify runs out, so a
  // periodic rescan is what catches missed events.
  const quickRaw = s.audit?.quick ?? DEFAULTS.auditQuick;
  const quick = quickRaw === "off" ? undefined : quickRaw;
  return {
    name,
    source: resolveLocation(s.source, base),
    targets,
    rules: {
      exclude: s.exclude ?? DEFAULTS.exclude,
      delete: s.delete ?? DEFAULTS.delete,
      ...(protect.length > 0 ? { protect } : {}),
      ...(maxDelete ? { maxDelete } : {}),
      preserve: {
        perms: preserve.includes("perms"),
        times: preserve.includes("times"),
        owner: preserve.includes("owner"),
        group: preserve.includes("group"),
        ...(preserve.includes("hardlinks") ? { hardlinks: true } : {}),
      },
      ...((s.rootMetadata ?? DEFAULTS.rootMetadata) ? {} : { rootMetadata: false }),
    },
    // The rules have already rejected a malformed delay, so the fallback is never taken.
    delayMs: parseDuration(s.delay ?? DEFAULTS.delay) ?? 1000,
    audit: { ...(quick !== undefined ? { quick } : {}), ...(s.audit?.deep !== undefined ? { deep: s.audit.deep } : {}) },
    onDrift: s.onDrift ?? DEFAULTS.onDrift,
    ...((s.followRoot ?? DEFAULTS.followRoot) ? {} : { followRoot: false }),
    ...(s.chown !== undefined ? { chown: parseChown(s.chown) } : {}),
    ...(s.onChange?.length
      ? {
          onChange: s.onChange.map((h) => ({
            run: h.run,
            ...(h.paths ? { paths: h.paths } : {}),
            timeoutMs: parseDuration(h.timeout ?? DEFAULTS.hookTimeout) ?? 60_000,
          })),
        }
      : {}),
  };
}

/** "USER:GROUP", "USER" or ":GROUP" (rsync --chown); the rules have refused anything else. */
export function parseChown(spec: string): { user?: string; group?: string } {
  const [user = "", group = ""] = spec.split(":");
  return { ...(user !== "" ? { user } : {}), ...(group !== "" ? { group } : {}) };
}

function normalizeNginx(n: RawNginx, hosts: Record<string, RawHost>, base: string): NginxSettings {
  return {
    ...(n.host !== undefined ? { host: n.host } : {}),
    path: n.host === undefined ? resolveLocalPath(n.path, base) : normalizePath(n.path),
    test: n.test ?? DEFAULTS.nginxTest,
    reload: n.reload ?? DEFAULTS.nginxReload,
    upstreams: Object.entries(n.upstreams).map(([name, u]) => ({ name, roles: u.roles, hosts: hostsWithRoles(hosts, u.roles), ...(u.port !== undefined ? { port: u.port } : {}) })),
    servers: n.servers.map((s) => ({
      names: s.names,
      listen: String(s.listen ?? DEFAULTS.listen),
      locations: Object.entries(s.locations).map(([match, upstream]) => ({ match, upstream })),
    })),
    drifted: n.drifted ?? DEFAULTS.drifted,
  };
}
