// Translators for single lsyncd option values: rsync flags and option tables → `preserve`, ssh command
// lines and tables → connection settings, rsync exclude patterns → gitignore patterns, delete modes.
// Each returns what it translated plus `warnings` (semantics differ or dropped) and `notes` (a choice
// worth a comment in the manifest). Pure: no line numbers here, the caller adds them.

import type { LuaTable, LuaValue } from "./lsyncd-eval.js";

export type PreserveKey = "perms" | "times" | "owner" | "group" | "hardlinks";
export interface Translated<T> { value: T; warnings: string[]; notes: string[] }

export interface Conn {
  user?: string;
  port?: number;
  identityFile?: string;
  knownHosts?: string;
  hostKeyChecking?: "accept-new";
  /** rsync's --rsync-path="sudo rsync": tsync's remote side runs under sudo -n. */
  sudo?: boolean;
}

const PRESERVE_FLAG: Record<string, PreserveKey> = { p: "perms", t: "times", o: "owner", g: "group" };
/** rsync features tsync always has, that only change rsync's own output, or that only devices/specials need. */
const SILENT_FLAGS = new Set(["r", "l", "v", "q", "s", "P", "h", "i", "D"]);
const FLAG_NAME: Record<string, string> = {
  u: "update", z: "compress", c: "checksum", H: "hard_links", A: "acls", X: "xattrs",
  S: "sparse", W: "whole_file", x: "one_file_system", L: "copy_links", k: "copy_dirlinks", K: "keep_dirlinks",
  E: "executability", b: "backup", C: "cvs_exclude", I: "ignore_times", O: "omit_dir_times", J: "omit_link_times",
  m: "prune_empty_dirs", n: "dry_run",
};
const ARCHIVE: PreserveKey[] = ["perms", "times", "owner", "group"];
/**
 * Table keys and long options with no effect on what the targets end up holding. devices/specials
 * (part of archive) are among them: a tree that is served or backed up has none, and warning about
 * them on every `archive = true` made --strict fail on nearly every config.
 */
const SILENT_KEYS = new Set([
  "binary", "links", "recursive", "verbose", "quiet", "protect_args", "rsh", "_extra", "devices", "specials",
  "human_readable", "progress", "partial", "stats", "itemize_changes", "ignore_errors", "force", "password_file", "port",
]);
/** Long options that take their value as the next argument when written without "=". */
const TAKES_VALUE = new Set(["exclude", "include", "filter", "exclude-from", "include-from", "chmod", "chown", "rsync-path", "temp-dir", "bwlimit", "port", "password-file", "rsh", "timeout", "backup-dir"]);

/** What an rsync option list or table means for a tsync sync. */
export interface RsyncMeaning {
  preserve: Set<PreserveKey>;
  /** `--delete` (and kin) among the arguments: every rsync lsyncd runs deletes. */
  deletes: boolean;
  /** `--exclude`/`--include`/`--filter` rules in their order (rsync pattern syntax, not yet translated). */
  rules: FilterRule[];
  /** `-e`/`--rsh` among the arguments. */
  rsh?: string;
  /** `--chown=USER:GROUP` (the last one wins, as in rsync). */
  chown?: string;
  /** `--rsync-path="sudo rsync"`: the receiving side runs as root. */
  sudo?: boolean;
  /** `--filter='P PATTERN'` / `protect PATTERN` rules (rsync pattern syntax, not yet translated). */
  protect: string[];
  /** Set when the options cannot be translated without changing what is copied. */
  refuse?: string;
}

/** One rsync filter rule: `+ PATTERN` (include) or `- PATTERN` (exclude). */
export interface FilterRule {
  include: boolean;
  pattern: string;
}

const newMeaning = (): Translated<RsyncMeaning> => ({ value: { preserve: new Set(), deletes: false, rules: [], protect: [] }, warnings: [], notes: [] });

/** The meaning of one rsync option name (long name or table key, "_" for "-"), shared by both eras. */
function rsyncOption(name: string, value: string | undefined, out: Translated<RsyncMeaning>): void {
  const m = out.value;
  const no = /^no_(.+)$/.exec(name)?.[1];
  if (no !== undefined) {
    const key = ({ p: "perms", t: "times", o: "owner", g: "group", H: "hard_links" } as Record<string, string>)[no] ?? no;
    if (key === "hard_links") m.preserve.delete("hardlinks");
    else if (key === "sparse") return;
    else if ((ARCHIVE as string[]).includes(key)) m.preserve.delete(key as PreserveKey);
    else if (!SILENT_KEYS.has(key) && key !== "d" && key !== "r" && key !== "l") rsyncOption(`no-${key}`, undefined, out);
    return;
  }
  if ((ARCHIVE as string[]).includes(name)) return void m.preserve.add(name as PreserveKey);
  if (SILENT_KEYS.has(name)) return;
  switch (name) {
    case "archive":
      return ARCHIVE.forEach((k) => m.preserve.add(k));
    case "hard_links":
      return void m.preserve.add("hardlinks");
    case "sparse":
      return; // tsync keeps a sparse file's holes on the targets, as rsync -S does
    case "update":
      return void out.warnings.push("rsync option 'update' (-u) has no tsync equivalent: targets are made equal to the source even where a target file is newer");
    case "compress":
      return void out.notes.push("compress ignored: tsync's transport decides");
    case "whole_file":
      return void out.notes.push("whole_file ignored: how bytes travel is tsync's transport's choice; the result is the same");
    case "temp_dir":
      return void out.notes.push("temp-dir ignored: tsync writes each file under a temporary name next to it, then renames");
    case "checksum":
      return void out.notes.push("checksum: tsync hashes where metadata differs; `tsync plan --deep` hashes everything");
    case "delete": case "del": case "delete_before": case "delete_during": case "delete_delay": case "delete_after":
      m.deletes = true;
      return;
    case "delete_excluded":
      return void out.warnings.push("rsync delete-excluded has no tsync equivalent: tsync leaves files that match an exclude alone on the targets");
    case "exclude": case "include":
      if (value === undefined) return void out.warnings.push(`rsync --${name} without a pattern is not translated`);
      return void m.rules.push({ include: name === "include", pattern: value });
    case "filter": {
      const rule = value === undefined ? undefined : parseFilterRule(value);
      if (rule) return void m.rules.push(rule);
      const prot = value === undefined ? undefined : /^(?:P|protect)[ _](.+)$/.exec(value)?.[1];
      if (prot !== undefined) return void m.protect.push(prot);
      m.refuse ??= `rsync --filter=${value ?? ""} is not a plain include/exclude rule (merge, protect, hide and modifiers have no tsync equivalent); write it as exclude patterns`;
      return;
    }
    case "include_from": case "files_from":
      m.refuse ??= `rsync --${name.replace(/_/g, "-")}=${value ?? ""} selects files from a list the importer does not read; write the selection as exclude patterns`;
      return;
    case "exclude_from":
      return void out.warnings.push(`rsync --exclude-from=${value ?? ""} is not read (the importer does no file IO): copy its patterns into exclude`);
    case "chmod":
      return void out.warnings.push(`rsync chmod '${value ?? ""}' has no tsync equivalent: targets get the source's modes${m.preserve.has("perms") ? "" : " only where preserve has perms"}`);
    case "chown":
      // tsync's chown takes USER:GROUP, USER or :GROUP, names or ids, like rsync's.
      if (value !== undefined && /^(?:[A-Za-z0-9_.][A-Za-z0-9_.-]*)?(?::[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$/.test(value) && value !== "" && value !== ":") {
        m.chown = value;
        return void out.notes.push(`lsyncd: rsync chown '${value}' → chown (needs root or sudo: true on the targets, as rsync's did)`);
      }
      return void out.warnings.push(`rsync chown '${value ?? ""}' is not USER:GROUP, USER or :GROUP and is not translated: set the owner on the targets yourself`);
    case "rsync_path":
      // "sudo rsync" (sudo -n, sudo -u root ... are other commands): tsync's own sudo is sudo -n.
      if (value !== undefined && /^\s*(?:\S*\/)?sudo\s+(?:\S*\/)?rsync\s*$/.test(value)) {
        m.sudo = true;
        return void out.notes.push(`lsyncd: rsync-path '${value}' → sudo: true (tsync runs its remote side under sudo -n: the user needs NOPASSWD, as rsync's did without a terminal)`);
      }
      if (value !== undefined && /\bsudo\b/.test(value)) return void out.warnings.push(`rsync-path '${value}' runs the receiving side under sudo in a way tsync does not translate (tsync's sudo: true is "sudo -n"); tsync writes as the ssh user`);
      return void out.notes.push(`rsync-path ignored: tsync does not run rsync on the target`);
    case "remove_source_files":
      return void out.warnings.push("rsync remove-source-files (lsyncd moves files off the source) has no tsync equivalent: tsync never changes the source");
    default:
      out.warnings.push(`rsync option '${name}' has no tsync equivalent and is ignored`);
  }
}

/**
 * rsync command-line arguments, applied left to right as rsync does (`-a --no-owner` keeps no owner,
 * `--no-owner -a` keeps it), on top of what `out` already holds.
 */
function rsyncArgs(args: readonly string[], out: Translated<RsyncMeaning>): void {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "-e" || arg === "--rsh") {
      out.value.rsh = args[++i];
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const long = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const value = eq >= 0 ? arg.slice(eq + 1) : TAKES_VALUE.has(long) ? args[++i] : undefined;
      if (long === "rsh") out.value.rsh = value;
      else rsyncOption(long.replace(/-/g, "_"), value, out);
      continue;
    }
    if (!/^-[A-Za-z0-9]+$/.test(arg)) {
      out.warnings.push(`rsync argument '${arg}' is not translated`);
      continue;
    }
    for (const f of arg.slice(1)) {
      if (f === "a") rsyncOption("archive", undefined, out);
      else if (PRESERVE_FLAG[f]) out.value.preserve.add(PRESERVE_FLAG[f]);
      else if (!SILENT_FLAGS.has(f)) rsyncOption(FLAG_NAME[f] ?? `-${f}`, undefined, out);
    }
  }
}

function dedupe<T>(out: Translated<T>): Translated<T> {
  out.warnings = [...new Set(out.warnings)];
  out.notes = [...new Set(out.notes)];
  return out;
}

/** lsyncd 2.0 `rsyncOpts`: "-rltvupgo", or a list of arguments; it replaces lsyncd's "-lts". */
export function translateRsyncOpts(v: LuaValue): Translated<RsyncMeaning> {
  const out = newMeaning();
  const args = typeof v === "string" ? v.split(/\s+/).filter(Boolean) : isTable(v) ? v.arr.filter((a): a is string => typeof a === "string") : [];
  rsyncArgs(args, out);
  return dedupe(out);
}

/**
 * lsyncd 2.1+ `rsync = { archive = true, perms = true, _extra = {...} }`, already merged with lsyncd's
 * defaults. lsyncd fills in what archive implies where a key is unset, emits one flag per true key,
 * then appends `_extra`: so `_extra` is applied last and wins.
 */
export function translateRsyncTable(t: LuaTable): Translated<RsyncMeaning> {
  const out = newMeaning();
  const on = (k: string) => truthy(t.map[k]);
  for (const k of ARCHIVE) if (on(k) || (on("archive") && t.map[k] === undefined)) out.value.preserve.add(k);
  for (const [k, v] of Object.entries(t.map)) {
    if (!truthy(v) || k === "archive" || (ARCHIVE as string[]).includes(k)) continue;
    rsyncOption(k, typeof v === "string" || typeof v === "number" ? String(v) : undefined, out);
  }
  const extra = t.map._extra;
  if (isTable(extra)) rsyncArgs(extra.arr.map(String), out);
  // lsyncd's FAQ runs a command before or after each transfer by naming a wrapper script as the binary.
  const binary = t.map.binary;
  if (typeof binary === "string" && !/(^|\/)rsync$/.test(binary))
    out.warnings.push(`rsync binary '${binary}' is not rsync: lsyncd runs it in rsync's place (the lsyncd FAQ's way to run a command before or after each transfer) and tsync does not; a command it runs after a transfer goes in the sync's onChange: [{ run: ... }]`);
  return dedupe(out);
}

/** An ssh command line (`rsh = "/usr/bin/ssh -p 2222 -i KEY"`) or argument list (`ssh._extra`). */
export function translateSshArgs(words: readonly string[]): Translated<Conn> {
  const out: Translated<Conn> = { value: {}, warnings: [], notes: [] };
  // "sudo ssh ...", "sshpass -p PW ssh ...": what runs before ssh is not an ssh option.
  const sshAt = words.findIndex((w) => /(^|\/)ssh$/.test(w));
  // Only the command's name: its arguments may be a password (sshpass -p).
  if (sshAt > 0) out.warnings.push(`ssh is started through '${words[0]}'; tsync connects itself (keys or ssh-agent)`);
  let i = sshAt >= 0 ? sshAt + 1 : words[0] !== undefined && !words[0].startsWith("-") ? 1 : 0;
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
        // Not a warning: a new host's key is accepted as with `no`; only a changed key differs, and
        // there tsync stops with one line naming the host instead of syncing on (ssh's `no` does).
        out.notes.push(`lsyncd: ssh StrictHostKeyChecking=${value} → hostKeyChecking: accept-new (a changed host key stops tsync)`);
      }
      return;
    // Options that change ssh's chatter or keep-alives, not what reaches the target.
    case "loglevel": case "serveraliveinterval": case "serveralivecountmax": case "compression": case "batchmode":
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
  if (p.startsWith("#")) p = `\\${p}`; // gitignore: a comment; rsync: a name
  if (p !== pattern) out.notes.push(`lsyncd: exclude ${JSON.stringify(pattern)} → ${JSON.stringify(p)}`);
  out.value = p;
  return out;
}

/** `+ PAT`, `- PAT`, `include PAT`, `exclude PAT` (rsync's filter rule forms without modifiers); else undefined. */
export function parseFilterRule(text: string): FilterRule | undefined {
  const m = /^(\+|-|include|exclude)[ _](.+)$/.exec(text);
  return m ? { include: m[1] === "+" || m[1] === "include", pattern: m[2]! } : undefined;
}

/**
 * An ordered rsync rule list (first match wins; a path no rule matches is copied) → gitignore patterns
 * (last match wins). Reversing the list and writing includes as `!PATTERN` decides every path the same
 * way: rsync does not descend into an excluded directory, and gitignore cannot re-include below one.
 * Without includes the order does not matter and is kept.
 */
export function translateRules(rules: readonly FilterRule[]): Translated<string[]> {
  const out: Translated<string[]> = { value: [], warnings: [], notes: [] };
  const hasInclude = rules.some((r) => r.include);
  for (const r of hasInclude ? [...rules].reverse() : rules) {
    const t = translateExclude(r.pattern);
    out.warnings.push(...t.warnings);
    out.notes.push(...t.notes);
    if (t.value === undefined) continue;
    // rsync's DIR/*** includes DIR and all below it; gitignore's !DIR/ re-includes only DIR itself.
    const ps = !r.include ? [t.value] : r.pattern.endsWith("/***") ? [`!${t.value}**`, `!${t.value}`] : [`!${t.value}`];
    out.value.push(...ps);
  }
  // A repeated pattern counts where it last appears (gitignore: last match wins).
  out.value = out.value.filter((p, i) => out.value.lastIndexOf(p) === i);
  if (hasInclude) out.notes.unshift("lsyncd: rsync include/exclude rules (first match wins), reversed into gitignore order (last match wins), includes as !");
  return dedupe(out);
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
  // lsyncd compares with == true / 'startup' / 'running' and nothing else, so any other value never deletes.
  return {
    value: false,
    warnings: [`delete = ${JSON.stringify(v)} is not one of true, false, 'startup', 'running', so lsyncd never deletes; imported as delete: false`],
    notes: [`lsyncd: delete = ${JSON.stringify(v)} → false`],
  };
}

export function isTable(v: LuaValue | undefined): v is LuaTable {
  return typeof v === "object" && v !== null && v.t === "table";
}

/** Lua truthiness for recorded values. */
export function truthy(v: LuaValue | undefined): boolean {
  return v !== undefined && v !== false;
}
