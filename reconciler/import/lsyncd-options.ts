// Translators for single lsyncd option values: rsync flags and option tables → `preserve`, ssh command
// lines and tables → connection settings, rsync exclude patterns → gitignore patterns, delete modes.
// Each returns what it translated plus `warnings` (semantics differ or dropped) and `notes` (a choice
// worth a comment in the manifest). Pure: no line numbers here, the caller adds them.

import type { LuaTable, LuaValue } from "./lsyncd-eval.js";

export type PreserveKey = "perms" | "times" | "owner" | "group";
export interface Translated<T> { value: T; warnings: string[]; notes: string[] }

export interface Conn {
  user?: string;
  port?: number;
  identityFile?: string;
  knownHosts?: string;
  hostKeyChecking?: "accept-new";
}

const PRESERVE_FLAG: Record<string, PreserveKey> = { p: "perms", t: "times", o: "owner", g: "group" };
/** rsync features tsync always has, or that only change rsync's own output. */
const SILENT_FLAGS = new Set(["r", "l", "v", "q", "s", "P", "h", "i"]);
const FLAG_NAME: Record<string, string> = {
  u: "update", z: "compress", c: "checksum", D: "devices+specials", H: "hard_links", A: "acls", X: "xattrs",
  S: "sparse", W: "whole_file", x: "one_file_system", L: "copy_links", k: "copy_dirlinks", K: "keep_dirlinks",
  E: "executability", b: "backup", C: "cvs_exclude", I: "ignore_times", O: "omit_dir_times", J: "omit_link_times",
  m: "prune_empty_dirs", n: "dry_run",
};
const ARCHIVE: PreserveKey[] = ["perms", "times", "owner", "group"];
const SILENT_KEYS = new Set(["binary", "links", "recursive", "verbose", "quiet", "protect_args", "rsh", "_extra"]);

/** The meaning of one rsync option name (long name or table key), shared by both eras. */
function rsyncOption(name: string, out: Translated<Set<PreserveKey>>): void {
  switch (name) {
    case "update":
      out.warnings.push("rsync option 'update' (-u) has no tsync equivalent: targets are made equal to the source even where a target file is newer");
      return;
    case "compress":
      out.notes.push("compress ignored: tsync's transport decides");
      return;
    case "checksum":
      out.notes.push("checksum: tsync hashes where metadata differs; `tsync plan --deep` hashes everything");
      return;
    case "devices":
    case "specials":
    case "devices+specials":
      out.warnings.push("rsync devices/specials (-D, part of archive) ignored: tsync does not replicate device or special files");
      return;
    default:
      out.warnings.push(`rsync option '${name}' has no tsync equivalent and is ignored`);
  }
}

/** lsyncd 2.0 `rsyncOpts`: "-rltvupgo", or a list of such strings. */
export function translateRsyncOpts(v: LuaValue): Translated<Set<PreserveKey>> {
  const out: Translated<Set<PreserveKey>> = { value: new Set(), warnings: [], notes: [] };
  const args = typeof v === "string" ? v.split(/\s+/).filter(Boolean) : isTable(v) ? v.arr.filter((a): a is string => typeof a === "string") : [];
  for (const arg of args) {
    if (arg.startsWith("--")) {
      const name = arg.slice(2).split("=")[0]!.replace(/-/g, "_");
      if (name === "archive") ARCHIVE.forEach((k) => out.value.add(k));
      else if (["perms", "times", "owner", "group"].includes(name)) out.value.add(name as PreserveKey);
      else if (!SILENT_KEYS.has(name) && name !== "recursive") rsyncOption(name, out);
      continue;
    }
    if (!arg.startsWith("-")) {
      out.warnings.push(`rsyncOpts argument '${arg}' is not translated`);
      continue;
    }
    for (const f of arg.slice(1)) {
      if (f === "a") ARCHIVE.forEach((k) => out.value.add(k));
      if (f === "a" || f === "D") rsyncOption("devices+specials", out);
      else if (PRESERVE_FLAG[f]) out.value.add(PRESERVE_FLAG[f]);
      else if (!SILENT_FLAGS.has(f)) rsyncOption(FLAG_NAME[f] ?? `-${f}`, out);
    }
  }
  out.warnings = [...new Set(out.warnings)];
  out.notes = [...new Set(out.notes)];
  return out;
}

/** lsyncd 2.1+ `rsync = { archive = true, perms = true, ... }`, already merged with lsyncd's defaults. */
export function translateRsyncTable(t: LuaTable): Translated<Set<PreserveKey>> {
  const out: Translated<Set<PreserveKey>> = { value: new Set(), warnings: [], notes: [] };
  const on = (k: string) => truthy(t.map[k]);
  for (const k of ARCHIVE) if (on(k) || (on("archive") && t.map[k] === undefined)) out.value.add(k);
  if (on("archive") && t.map.devices === undefined && t.map.specials === undefined) rsyncOption("devices+specials", out);
  for (const [k, v] of Object.entries(t.map)) {
    if (!truthy(v) || SILENT_KEYS.has(k) || k === "archive" || (ARCHIVE as string[]).includes(k)) continue;
    rsyncOption(k, out);
  }
  const extra = t.map._extra;
  if (isTable(extra)) for (const a of extra.arr) out.warnings.push(`rsync._extra argument '${String(a)}' is not translated`);
  return out;
}

/** An ssh command line (`rsh = "/usr/bin/ssh -p 2222 -i KEY"`) or argument list (`ssh._extra`). */
export function translateSshArgs(words: readonly string[]): Translated<Conn> {
  const out: Translated<Conn> = { value: {}, warnings: [], notes: [] };
  let i = words[0] !== undefined && !words[0].startsWith("-") ? 1 : 0;
  const takes = (flag: string, w: string) => (w === flag ? words[++i] : w.startsWith(flag) ? w.slice(flag.length) : undefined);
  for (; i < words.length; i++) {
    const w = words[i]!;
    let v: string | undefined;
    if ((v = takes("-p", w)) !== undefined) setPort(out, v);
    else if ((v = takes("-i", w)) !== undefined) out.value.identityFile = v;
    else if ((v = takes("-l", w)) !== undefined) out.value.user = v;
    else if ((v = takes("-o", w)) !== undefined) sshOption(out, ...splitOption(v));
    else if ((v = takes("-F", w)) !== undefined) out.warnings.push(`ssh config file '${v}' is not read: put its User/Port/IdentityFile into the manifest's hosts`);
    else if (/^-[46qCTxaAk]+$/.test(w)) continue;
    else out.warnings.push(`ssh argument '${w}' is not translated`);
  }
  return out;
}

/** rsyncssh's `ssh = { port, identityFile, options = { K = V }, _extra = {...} }`. */
export function translateSshTable(t: LuaTable): Translated<Conn> {
  const out = isTable(t.map._extra) ? translateSshArgs(["ssh", ...t.map._extra.arr.map(String)]) : { value: {}, warnings: [], notes: [] };
  if (t.map.port !== undefined) setPort(out, String(t.map.port));
  if (typeof t.map.identityFile === "string") out.value.identityFile = t.map.identityFile;
  const opts = t.map.options;
  if (isTable(opts)) for (const [k, v] of Object.entries(opts.map)) sshOption(out, k, String(v));
  return out;
}

function splitOption(s: string): [string, string] {
  const m = /^([A-Za-z]+)\s*[= ]\s*(.*)$/.exec(s);
  return m ? [m[1]!, m[2]!] : [s, ""];
}

function sshOption(out: Translated<Conn>, key: string, value: string): void {
  switch (key.toLowerCase()) {
    case "port": return setPort(out, value);
    case "identityfile": out.value.identityFile = value; return;
    case "user": out.value.user = value; return;
    case "userknownhostsfile":
      if (value === "/dev/null") out.warnings.push("UserKnownHostsFile=/dev/null dropped: tsync always verifies host keys");
      else out.value.knownHosts = value;
      return;
    case "stricthostkeychecking":
      if (/^(no|off|accept-new)$/i.test(value)) {
        out.value.hostKeyChecking = "accept-new";
        out.warnings.push(`StrictHostKeyChecking=${value} imported as hostKeyChecking: accept-new (tsync never accepts a changed host key)`);
      }
      return;
    default:
      out.warnings.push(`ssh option '${key}=${value}' is not translated`);
  }
}

function setPort(out: Translated<Conn>, v: string): void {
  const n = Number(v);
  if (Number.isInteger(n) && n >= 1 && n <= 65535) out.value.port = n;
  else out.warnings.push(`ssh port '${v}' is not a port number`);
}

/**
 * rsync exclude patterns → gitignore. The two agree on `name`, `/anchored`, `dir/`, `*`, `**`, `?`, `[...]`;
 * they differ where a pattern has an inner slash (rsync matches it at any depth, gitignore at the root),
 * on `dir/***`, on `+ `/`- ` rule prefixes and on `!` (rsync: clear the list).
 */
export function translateExclude(pattern: string): Translated<string | undefined> {
  const out: Translated<string | undefined> = { value: undefined, warnings: [], notes: [] };
  let p = pattern;
  if (p.startsWith("- ")) p = p.slice(2);
  else if (p.startsWith("+ ") || p.startsWith("!")) {
    out.warnings.push(`exclude '${pattern}' is an rsync include/clear rule and is not translated`);
    return out;
  }
  if (p.endsWith("/***")) p = p.slice(0, -3);
  const inner = p.replace(/\/+$/, "");
  if (inner.includes("/") && !inner.startsWith("/") && !inner.startsWith("**/")) p = `**/${p}`;
  if (p !== pattern) out.notes.push(`lsyncd: exclude ${JSON.stringify(pattern)} → ${JSON.stringify(p)}`);
  out.value = p;
  return out;
}

/** lsyncd delete modes → tsync's boolean. */
export function translateDelete(v: LuaValue | undefined): Translated<boolean> {
  if (v === undefined) return { value: true, warnings: [], notes: ["lsyncd default: delete = true"] };
  if (v === "startup")
    return { value: true, warnings: ["delete = 'startup' imported as delete: true: tsync also deletes while watching"], notes: ["lsyncd: delete = 'startup' → true"] };
  if (v === "running")
    return {
      value: true,
      warnings: ["delete = 'running' imported as delete: true: the first apply also deletes files only the target has (review `tsync plan`)"],
      notes: ["lsyncd: delete = 'running' → true"],
    };
  if (typeof v === "boolean") return { value: v, warnings: [], notes: [] };
  return { value: true, warnings: [`delete = ${JSON.stringify(v)} is not one of true, false, 'startup', 'running'; imported as true`], notes: [] };
}

export function isTable(v: LuaValue | undefined): v is LuaTable {
  return typeof v === "object" && v !== null && v.t === "table";
}

/** Lua truthiness for recorded values. */
export function truthy(v: LuaValue | undefined): boolean {
  return v !== undefined && v !== false;
}
