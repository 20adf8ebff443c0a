// Semantic checks on a schema-valid manifest, one named Rule each (changesets' style). Each reports
// positioned diagnostics; none stops the others.

import { isIP } from "node:net";
import { Cron } from "croner";
import ignore from "ignore";
import type { Diagnostic } from "../model/diagnostics.js";
import { closest, diagnosticAt, type DiagnosticOptions, type Seg, type SourceDoc } from "./position.js";
import { expandHome, hostsWithRoles, isRoleTargets, loginRelative, manifestDir, normalizePath, parseHop, proxyJumpOf, resolveLocalPath, splitHostPort, splitLocation, type RawConnection, type RawLocation, type RawManifest } from "./normalize.js";
import { firstOverlaps } from "./overlaps.js";
import { parseDuration, parseLimit } from "./units.js";

export interface RuleContext {
  readonly raw: RawManifest;
  readonly src: SourceDoc;
  /** What the file defines; a reference is checked against these even when a definition was cut out for a schema error. */
  readonly defined: DefinedNames;
  /** Every written location, computed once: a generated manifest can list tens of thousands. */
  readonly written: readonly Written[];
  report(code: string, segs: readonly Seg[], message: string, opts?: DiagnosticOptions): void;
}
export type Rule = (ctx: RuleContext) => void;

/** One written location (or one host of a roles selection), with where it was written. */
interface Written {
  readonly sync: string;
  readonly kind: "source" | "target";
  readonly at: readonly Seg[];
  readonly host?: string;
  readonly path: string;
  /** Where to point about the path: the string itself, or the `path` key of an object. */
  readonly pathAt: readonly Seg[];
  readonly hostAt: readonly Seg[];
}

function writtenLocations(raw: RawManifest): Written[] {
  const out: Written[] = [];
  for (const [sync, s] of Object.entries(raw.syncs ?? {})) {
    const one = (loc: RawLocation, at: Seg[], kind: Written["kind"]) => {
      const { host, path } = splitLocation(loc);
      const obj = typeof loc !== "string";
      out.push({ sync, kind, at, ...(host !== undefined ? { host } : {}), path, pathAt: obj ? [...at, "path"] : at, hostAt: obj ? [...at, "host"] : at });
    };
    one(s.source, ["syncs", sync, "source"], "source");
    const t = s.targets;
    if (isRoleTargets(t)) {
      const at = ["syncs", sync, "targets", "roles"];
      for (const host of hostsWithRoles(raw.hosts ?? {}, t.roles))
        out.push({ sync, kind: "target", at, host, path: t.path, pathAt: ["syncs", sync, "targets", "path"], hostAt: at });
    } else {
      t.forEach((loc, i) => one(loc, ["syncs", sync, "targets", i], "target"));
    }
  }
  return out;
}

const label = (w: { host?: string; path: string }) => (w.host === undefined ? w.path : `${w.host}:${w.path}`);

/**
 * A path on this machine may be relative (to the manifest's directory) or start with `~/`; `~user/` is
 * not expanded, so it would silently become a directory named "~user" next to the manifest. A path on
 * a remote host must be absolute: there is no manifest directory there.
 */
const relativePaths: Rule = ({ raw, written, report }) => {
  const local = (p: string | undefined, at: readonly Seg[]) => {
    if (p !== undefined && p.startsWith("~") && expandHome(p) === p) report("relative-path", at, `${JSON.stringify(p)}: only ~/ (your own home) is expanded; write the absolute path`);
  };
  local(raw.settings?.statusFile, ["settings", "statusFile"]);
  local(raw.settings?.logFile, ["settings", "logFile"]);
  if (typeof raw.settings?.hashCache === "string") local(raw.settings.hashCache, ["settings", "hashCache"]);
  const connections: [Seg[], RawConnection][] = [[["defaults"], raw.defaults ?? {}], ...Object.entries(raw.hosts ?? {}).map(([n, h]): [Seg[], RawConnection] => [["hosts", n], h])];
  for (const [base, c] of connections) {
    local(c.identityFile, [...base, "identityFile"]);
    local(c.knownHosts, [...base, "knownHosts"]);
    if (typeof c.sshConfig === "string") local(c.sshConfig, [...base, "sshConfig"]);
  }
  for (const w of written) {
    if (w.host === undefined) local(w.path, w.pathAt);
    else if (w.path.startsWith("/")) continue;
    else if (!w.path.startsWith("~")) report("relative-path", w.pathAt, `${JSON.stringify(label(w))}: the path on ${w.host} must be absolute, or ~/DIR for a directory below the login directory`);
    else if (loginRelative(w.path) === undefined) {
      const why = !/^~(\/|$)/.test(w.path) ? "only ~/ (the login directory) is resolved on a host, not ~user; write the absolute path"
        : w.path.split("/").includes("..") ? `".." cannot leave the login directory; write the absolute path`
          : "that is the login directory itself: name a directory below it (mirroring over it would delete its .ssh)";
      report("relative-path", w.pathAt, `${JSON.stringify(label(w))}: ${why}`);
    }
  }
  const n = raw.nginx;
  if (n?.host === undefined) local(n?.path, ["nginx", "path"]);
  else if (!n.path.startsWith("/")) report("relative-path", ["nginx", "path"], `${JSON.stringify(n.path)}: the path on ${n.host} must be absolute`);
};

/**
 * No string may hold a NUL byte: the OS cannot take one in a path, an argument or an address, so a
 * later step would fail far from the manifest (plan printed a Buffer dump for an nginx.path with one).
 */
const nulBytes: Rule = ({ raw, report }) => {
  const walk = (v: unknown, at: Seg[]) => {
    if (typeof v === "string") {
      if (v.includes("\0")) report("nul-byte", at, `${JSON.stringify(v)} contains a NUL byte (U+0000), which no path, command or address can hold`);
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, i]));
    else if (v !== null && typeof v === "object")
      for (const [k, x] of Object.entries(v)) {
        if (k.includes("\0")) report("nul-byte", [...at, k], `the key ${JSON.stringify(k)} contains a NUL byte (U+0000)`, { key: true });
        else walk(x, [...at, k]);
      }
  };
  walk(raw, []);
};

// RFC 1123 labels. Anything else (user@host, host:22, "-oProxyCommand=...") would be misread by ssh or nginx.
// Underscores too: OpenSSH accepts them and ssh config aliases and internal DNS names use them.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

const hostAddresses: Rule = ({ raw, report }) => {
  for (const [name, h] of Object.entries(raw.hosts ?? {})) {
    if (isIP(h.address) === 0 && !HOSTNAME.test(h.address))
      report("host-address", ["hosts", name, "address"], `${JSON.stringify(h.address)} is not a hostname or IP address (user and port have their own keys)`);
  }
};

const isAddress = (a: string) => isIP(a) !== 0 || HOSTNAME.test(a);

const webAddresses: Rule = ({ raw, report }) => {
  for (const [name, h] of Object.entries(raw.hosts ?? {}))
    if (h.web !== undefined && !isAddress(h.web))
      report("host-address", ["hosts", name, "web"], `${JSON.stringify(h.web)} is not a hostname or IP address (the upstream port is nginx.upstreams.*.port)`);
};

/** Each hop names a host of the manifest or is [user@]host[:port]; no host reaches itself through its own chain. */
const jumpHosts: Rule = ({ raw, report }) => {
  const hosts = raw.hosts ?? {};
  const d = raw.defaults ?? {};
  const hopsOf = (v: string | undefined) => (v === undefined || v === "none" ? [] : v.split(","));
  const check = (v: string | undefined, at: Seg[]) => {
    for (const spec of hopsOf(v)) {
      if (hosts[spec] !== undefined) continue;
      const hop = parseHop(spec);
      if (hop === undefined || !isAddress(hop.address))
        report("proxy-jump", at, `jump host ${JSON.stringify(spec)} is neither a host of this manifest nor [user@]host[:port]`);
    }
  };
  check(d.proxyJump, ["defaults", "proxyJump"]);
  for (const [name, h] of Object.entries(hosts)) {
    if (h.proxyJump !== undefined) check(h.proxyJump, ["hosts", name, "proxyJump"]);
    // Walk manifest-named hops: reaching `name` again is a loop that could never connect.
    const seen = new Set<string>();
    const walk = (n: string): boolean => {
      for (const spec of hopsOf(proxyJumpOf(n, hosts[n]!, d))) {
        if (hosts[spec] === undefined) continue;
        if (spec === name) return true;
        if (seen.has(spec)) continue;
        seen.add(spec);
        if (walk(spec)) return true;
      }
      return false;
    };
    if (walk(name)) report("proxy-jump", h.proxyJump !== undefined ? ["hosts", name, "proxyJump"] : ["defaults", "proxyJump"], `${name} is reached through itself (a proxyJump loop)`);
  }
};

const unknownHosts: Rule = ({ raw, defined, written, report }) => {
  const names = defined.hosts;
  const known = new Set(names);
  const check = (host: string | undefined, at: readonly Seg[]) => {
    if (host === undefined || known.has(host)) return;
    const hint = closest(host, names);
    report("unknown-host", at, `unknown host ${JSON.stringify(host)}` + (hint ? `; did you mean ${JSON.stringify(hint)}?` : names.length ? ` (hosts: ${names.join(", ")})` : " (no hosts are defined)"));
  };
  for (const w of written) check(w.host, w.hostAt);
  check(raw.nginx?.host, ["nginx", "host"]);
};

const unknownRoles: Rule = ({ raw, defined, report }) => {
  const known = new Set(defined.roles);
  const check = (roles: readonly string[], at: readonly Seg[]) =>
    roles.forEach((r, i) => {
      if (known.has(r)) return;
      const hint = closest(r, known);
      report("unknown-role", [...at, i], `no host has role ${JSON.stringify(r)}` + (hint ? `; did you mean ${JSON.stringify(hint)}?` : ""));
    });
  for (const [name, s] of Object.entries(raw.syncs ?? {})) if (isRoleTargets(s.targets)) check(s.targets.roles, ["syncs", name, "targets", "roles"]);
  for (const [name, u] of Object.entries(raw.nginx?.upstreams ?? {})) check(u.roles, ["nginx", "upstreams", name, "roles"]);
};

/** An upstream with no server makes nginx refuse the config (or, rendered empty, takes the site down). */
const emptyUpstreams: Rule = ({ raw, report }) => {
  for (const [name, u] of Object.entries(raw.nginx?.upstreams ?? {}))
    if (u.roles.length === 0) report("empty-upstream", ["nginx", "upstreams", name, "roles"], "selects no host: an empty upstream takes the site down");
};

/** Same machine: local, or hosts with the same address and port (two names for one box). */
function machineOf(raw: RawManifest, host: string | undefined): string | undefined {
  if (host === undefined) return "local";
  const h = raw.hosts?.[host];
  return h ? `${h.address.toLowerCase()}|${h.port ?? raw.defaults?.port ?? 22}` : undefined;
}

/** Remote "~/DIR" paths compare with each other as written (one login directory per host), not with absolute ones. */
function resolvedPath(w: Written, baseDir: string): string | undefined {
  if (w.host === undefined) return resolveLocalPath(w.path, baseDir);
  return w.path.startsWith("/") ? normalizePath(w.path) : loginRelative(w.path);
}

/** "same", "inside" (a under b), "contains" (b under a), or undefined. */
function overlap(a: string, b: string): "same" | "inside" | "contains" | undefined {
  if (a === b) return "same";
  if (a.startsWith(b === "/" ? "/" : `${b}/`)) return "inside";
  if (b.startsWith(a === "/" ? "/" : `${a}/`)) return "contains";
  return undefined;
}

const sourceIsTarget: Rule = ({ raw, written, src: doc, report }) => {
  const base = manifestDir(doc.file);
  // One pass: writtenLocations lists each sync's source before its targets.
  const sources = new Map<string, { src: Written; machine: string; path: string }>();
  for (const w of written) {
    const machine = machineOf(raw, w.host);
    const path = resolvedPath(w, base);
    if (!machine || !path) continue;
    if (w.kind === "source") {
      sources.set(w.sync, { src: w, machine, path });
      continue;
    }
    const s = sources.get(w.sync);
    const o = s && s.machine === machine ? overlap(path, s.path) : undefined;
    if (!s || !o) continue;
    const how = o === "same" ? "is the source itself" : o === "inside" ? "is inside the source" : "contains the source";
    report("source-is-target", w.at, `target ${label(w)} ${how} (${label(s.src)}): a sync cannot write into what it reads`);
  }
};

const overlappingTargets: Rule = ({ raw, written, src, report }) => {
  const base = manifestDir(src.file);
  const targets: { w: Written; machine: string; path: string }[] = [];
  for (const w of written.filter((x) => x.kind === "target")) {
    const machine = machineOf(raw, w.host);
    const path = resolvedPath(w, base);
    if (machine && path) targets.push({ w, machine, path });
  }
  // A root target is refused on its own and overlaps nothing; the others are each reported against the
  // first earlier target they overlap that was itself fine.
  const placed = targets.filter((t) => t.path !== "/");
  let first = firstOverlaps(placed);
  // Nesting under an outer sync's exclude is allowed (excludedByOuter). It is rare, so the fast pass
  // stays as it is and only a manifest that has such a pair is checked pair by pair with the exemption.
  if (first.some((j, i) => j !== undefined && excludedByOuter(raw, placed[i]!, placed[j]!))) first = firstOverlapsExempting(raw, placed);
  const overlaps = new Map(first.map((j, i) => [placed[i]!, j === undefined ? undefined : placed[j]!.w]));
  for (const t of targets) {
    const { w } = t;
    const other = overlaps.get(t);
    if (t.path === "/") {
      report("root-target", w.pathAt, `refusing to replicate into / on ${w.host ?? "this machine"}: name the directory to mirror`);
    } else if (other) {
      const where = other.sync === w.sync ? "another target of this sync" : `a target of sync ${JSON.stringify(other.sync)}`;
      report("overlapping-targets", w.at, `target ${label(w)} overlaps ${label(other)}, ${where}: two writers would undo each other`);
    }
  }
};

/** firstOverlaps' answer where a pair excludedByOuter exempts does not count (each against the kept ones). */
function firstOverlapsExempting(raw: RawManifest, placed: readonly { w: Written; machine: string; path: string }[]): (number | undefined)[] {
  const kept: number[] = [];
  return placed.map((t, i) => {
    const j = kept.find((k) => placed[k]!.machine === t.machine && overlap(t.path, placed[k]!.path) && !excludedByOuter(raw, t, placed[k]!));
    if (j === undefined) kept.push(i);
    return j;
  });
}

/**
 * Nested targets of different syncs are one writer each when the outer sync excludes the inner path:
 * the planner never touches an excluded target path (it is protected). Patterns and paths go through
 * latin1-of-UTF-8 as core/ignore.ts's matcher does, so "excluded" means the same here.
 */
function excludedByOuter(raw: RawManifest, a: { w: Written; path: string }, b: { w: Written; path: string }): boolean {
  const o = overlap(a.path, b.path);
  if (o !== "inside" && o !== "contains") return false;
  const [outer, inner] = o === "inside" ? [b, a] : [a, b];
  if (outer.w.sync === inner.w.sync) return false;
  const patterns = raw.syncs?.[outer.w.sync]?.exclude ?? [];
  if (patterns.length === 0) return false;
  const latin1 = (x: string) => Buffer.from(x, "utf8").toString("latin1");
  const rel = inner.path.slice(outer.path === "/" ? 1 : outer.path.length + 1);
  return ignore({ ignoreCase: false }).add(patterns.map(latin1)).ignores(`${latin1(rel)}/`);
}

const durationsAndLimits: Rule = ({ raw, report }) => {
  for (const [name, s] of Object.entries(raw.syncs ?? {})) {
    if (s.delay !== undefined && parseDuration(s.delay) === undefined)
      report("bad-duration", ["syncs", name, "delay"], `must be a duration like "1s", at most 24 days`);
    if (s.maxDelete !== undefined && parseLimit(s.maxDelete) === undefined)
      report("bad-limit", ["syncs", name, "maxDelete"], `must be a count like 1000 or a percentage from 0% to 100%`);
    for (const [i, h] of (s.onChange ?? []).entries()) {
      if (h.timeout === undefined) continue;
      const ms = parseDuration(h.timeout);
      if (ms === undefined || ms === 0)
        report("bad-duration", ["syncs", name, "onChange", i, "timeout"], `must be a duration like "60s", more than 0 and at most 24 days`);
    }
  }
};

const metricsAddress: Rule = ({ raw, report }) => {
  const m = raw.settings?.metrics;
  if (m === undefined) return;
  const { port } = splitHostPort(m);
  if (!(port >= 1 && port <= 65535)) report("bad-port", ["settings", "metrics"], `port ${port} is not from 1 to 65535`);
};

const cronExpressions: Rule = ({ raw, report }) => {
  for (const [name, s] of Object.entries(raw.syncs ?? {})) {
    for (const kind of ["quick", "deep"] as const) {
      const expr = s.audit?.[kind];
      if (expr === undefined || (kind === "quick" && expr === "off")) continue;
      try {
        new Cron(expr, { paused: true }).stop();
      } catch (e) {
        const why = e instanceof Error ? e.message.replace(/^CronPattern: /, "") : String(e);
        report("bad-cron", ["syncs", name, "audit", kind], `must be a cron expression like "*/5 * * * *" (${why})`);
      }
    }
  }
};

const unknownUpstreams: Rule = ({ raw, defined, report }) => {
  const names = defined.upstreams;
  raw.nginx?.servers.forEach((srv, i) => {
    for (const [match, up] of Object.entries(srv.locations)) {
      if (names.includes(up)) continue;
      const hint = closest(up, names);
      report("unknown-upstream", ["nginx", "servers", i, "locations", match], `unknown upstream ${JSON.stringify(up)}` + (hint ? `; did you mean ${JSON.stringify(hint)}?` : ""));
    }
  });
};

// These strings are pasted into nginx syntax; any of these characters could end a directive or open a block.
const NGINX_UNSAFE = /[;{}"'#\\\s\x00-\x1f\x7f]/;
const NGINX_UNSAFE_MATCH = /[;{}"'#\n\r\x00-\x1f\x7f]/;

function describeChar(s: string, re: RegExp): string {
  const c = re.exec(s)![0];
  return c >= " " && c !== "\x7f" ? JSON.stringify(c) : `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

const nginxInjection: Rule = ({ raw, report }) => {
  raw.nginx?.servers.forEach((srv, i) => {
    const at: Seg[] = ["nginx", "servers", i];
    srv.names.forEach((n, j) => {
      if (NGINX_UNSAFE.test(n)) report("nginx-injection", [...at, "names", j], `server name ${JSON.stringify(n)} contains ${describeChar(n, NGINX_UNSAFE)}, which nginx would read as syntax`);
    });
    for (const match of Object.keys(srv.locations)) {
      if (NGINX_UNSAFE_MATCH.test(match) || match.trim() === "")
        report("nginx-injection", [...at, "locations", match], `location ${JSON.stringify(match)} ${match.trim() === "" ? "is empty" : `contains ${describeChar(match, NGINX_UNSAFE_MATCH)}, which nginx would read as syntax`}`, { key: true });
    }
    if (typeof srv.listen === "string" && NGINX_UNSAFE_MATCH.test(srv.listen))
      report("nginx-injection", [...at, "listen"], `listen ${JSON.stringify(srv.listen)} contains ${describeChar(srv.listen, NGINX_UNSAFE_MATCH)}, which nginx would read as syntax`);
  });
};

export const RULES: Readonly<Record<string, Rule>> = {
  nulBytes,
  relativePaths,
  hostAddresses,
  webAddresses,
  jumpHosts,
  unknownHosts,
  unknownRoles,
  emptyUpstreams,
  sourceIsTarget,
  overlappingTargets,
  durationsAndLimits,
  metricsAddress,
  cronExpressions,
  unknownUpstreams,
  nginxInjection,
};

export interface DefinedNames {
  readonly hosts: readonly string[];
  readonly roles: readonly string[];
  readonly upstreams: readonly string[];
}

const record = (v: unknown): Record<string, unknown> => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** Host, role and upstream names of a document of any shape (also one the schema rejects). */
export function definedNames(data: unknown): DefinedNames {
  const hosts = record(record(data).hosts);
  const roles = Object.values(hosts).flatMap((h) => {
    const r = record(h).roles;
    return Array.isArray(r) ? r.filter((x): x is string => typeof x === "string") : [];
  });
  return { hosts: Object.keys(hosts), roles, upstreams: Object.keys(record(record(record(data).nginx).upstreams)) };
}

/** `raw` must be schema-valid; `defined` comes from the whole file when `raw` is the schema-valid part of it. */
export function checkRules(raw: RawManifest, src: SourceDoc, defined: DefinedNames = definedNames(raw)): Diagnostic[] {
  const out: Diagnostic[] = [];
  const ctx: RuleContext = { raw, src, defined, written: writtenLocations(raw), report: (code, segs, message, opts) => out.push(diagnosticAt(src, code, segs, message, opts)) };
  for (const rule of Object.values(RULES)) rule(ctx);
  return out;
}
