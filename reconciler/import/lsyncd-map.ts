// What an lsyncd config recorded → a tsync manifest draft: hosts from target addresses, one sync per
// distinct (source, rules) with all its targets, settings. Warnings carry the Lua line of the call.
// Rendering the draft as commented YAML is lsyncd-render.ts.

import { posix } from "node:path";
import { loginRelative } from "../manifest/normalize.js";
import type { LuaTable, LuaValue, Recorded } from "./lsyncd-eval.js";
import {
  isTable, translateDelete, translateRsyncOpts, translateRsyncTable, translateRules, translateSshArgs, translateSshTable,
  truthy, type Conn, type FilterRule, type PreserveKey, type RsyncMeaning, type Translated,
} from "./lsyncd-options.js";

export interface HostDraft {
  name: string;
  address: string;
  conn: Conn;
  /** Lua line of the first sync{} that named this host. */
  line: number;
}
export interface SyncDraft {
  name: string;
  source: string;
  targets: string[];
  exclude: string[];
  delete: boolean;
  preserve: PreserveKey[];
  /** rsync --chown, when the options set it. */
  chown?: string;
  /** rsync protect (`P`) filter rules as gitignore patterns. */
  protect: string[];
  delay: string;
  /** Lua lines of the sync{} calls merged into this sync, one per target. */
  lines: number[];
  /** Comments per manifest key of this sync ("" for the sync itself). */
  comments: Record<string, string[]>;
}
export interface ManifestDraft {
  settings: { maxProcesses?: number; statusFile?: string; logFile?: string };
  settingsComments: Record<string, string[]>;
  hosts: HostDraft[];
  syncs: SyncDraft[];
}
export interface MapResult {
  draft: ManifestDraft;
  warnings: string[];
  /** One line per sync{} that could not be translated: "FILE:LINE: reason; sync skipped". */
  skipped: string[];
}
export interface MapOptions {
  /** address → host name; others are named node-1, node-2 ... in first-seen order. */
  names?: Record<string, string>;
  /** Absolute directory that relative sources and local targets resolve against (lsyncd's working directory). */
  base?: string;
  /** Reads a file lsyncd reads at startup (excludeFrom, filterFrom); absent: no file is read. */
  readFile?: (path: string) => string | { error: string };
}

type Layer = "rsync" | "rsyncssh" | "direct";
const LAYER_DELAY: Record<Layer, number> = { rsync: 15, rsyncssh: 15, direct: 1 };
/** lsyncd 2.1+ default.rsync.rsync; lsyncd 2.0's `rsyncOpts = "-lts"` means the same for tsync. */
const DEFAULT_RSYNC: LuaTable = { t: "table", arr: [], map: { links: true, times: true, protect_args: true } };
const CUSTOM = ["action", "prepare", "collect", "onCreate", "onModify", "onDelete", "onMove", "onAttrib", "onStartup", "onFull", "full"];
const IGNORED = new Set(["init", "source", "target", "host", "targetdir", "delay", "delete", "exclude", "excludeFrom", "filter", "filterFrom", "rsync", "rsyncOpts", "ssh", "rsyncBinary", "maxProcesses", "checkgauge"]);
const UNTRANSLATED = new Set(["maxDelays", "exitcodes", "rsyncExitCodes", "sshExitCodes", "batchSizeLimit", "crontab", "tunnel", "monitor"]);
/** statusInterval: tsync rewrites its status file on every change, so there is no interval to carry over. */
// inotifyMode: which inotify events lsyncd acts on (Modify, CloseWrite); tsync places a file only
// whole (one that changes while it is read is sent again), so the targets end up the same either way.
const SETTINGS_IGNORED = new Set(["nodaemon", "insist", "statusInterval", "inotifyMode"]);
const SETTINGS_UNTRANSLATED = new Set(["pidfile", "logident", "logfacility", "maxDelays", "onepass"]);

export function mapRecorded(rec: Recorded, file: string, source: string, opts: MapOptions = {}): MapResult {
  const names = opts.names ?? {};
  const read = (path: string) => {
    if (!opts.readFile) return { error: "the importer was given no files to read" };
    const abs = path.startsWith("/") || opts.base === undefined ? path : posix.resolve(opts.base, path);
    return opts.readFile(abs);
  };
  const warnings: string[] = [];
  const skipped: string[] = [];
  const at = (line: number) => (line > 0 ? `${file}:${line}` : file);
  const warn = (line: number, msg: string) => warnings.push(`${at(line)}: ${msg}`);
  const skip = (line: number, msg: string) => skipped.push(`${at(line)}: ${msg}; sync skipped`);
  const take = <T>(line: number, t: Translated<T>, comments?: string[]) => {
    t.warnings.forEach((w) => warn(line, w));
    comments?.push(...t.notes);
    return t.value;
  };

  // lsyncd 2.0 `settings = {...}` and 2.1+ `settings{...}`: later keys win, as in lsyncd.
  const settings = new Map<string, { line: number; value: LuaValue }>();
  const assignedLine = lineOf(source, /^\s*settings\s*=/m);
  const settingsTables: [number, LuaValue][] = [
    ...(rec.settingsAssigned !== undefined ? [[assignedLine, rec.settingsAssigned] as [number, LuaValue]] : []),
    ...rec.settingsCalls.map((c): [number, LuaValue] => [c.line, c.value]),
  ];
  for (const [line, t] of settingsTables) {
    if (!isTable(t)) warn(line, "settings is not a table; ignored");
    else for (const [k, v] of Object.entries(t.map)) settings.set(k, { line, value: v });
  }
  const draft: ManifestDraft = { settings: {}, settingsComments: {}, hosts: [], syncs: [] };
  const order = ["maxProcesses", "statusFile", "logfile"];
  const rank = (k: string) => (order.includes(k) ? order.indexOf(k) : order.length);
  for (const [k, { line, value }] of [...settings].sort(([a], [b]) => rank(a) - rank(b))) {
    if (k === "maxProcesses") {
      if (typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 256) draft.settings.maxProcesses = value;
      else warn(line, `settings.maxProcesses = ${JSON.stringify(value)} is not a whole number from 1 to 256; ignored`);
    } else if (k === "statusFile" || k === "logfile") {
      const key = k === "logfile" ? "logFile" : k;
      if (typeof value === "string") draft.settings[key] = value;
      if (k === "statusFile") draft.settingsComments[key] = ["lsyncd's statusFile; tsync writes its JSON status here"];
    } else if (k === "delay") continue; // applied to every sync below, as lsyncd 2.0 does
    else if (SETTINGS_IGNORED.has(k)) continue;
    else if (SETTINGS_UNTRANSLATED.has(k)) warn(line, `settings.${k} has no tsync equivalent and is ignored`);
    else warn(line, `unknown setting '${k}' ignored`);
  }
  const settingsDelay = settings.get("delay");

  const hostByAddress = new Map<string, HostDraft>();
  /** The host name for `[user@]address`, or a reason it is not one. */
  const hostFor = (line: number, spec: string, conn: Conn): { name: string } | { error: string } => {
    const m = /^(?:([^@]*)@)?(.*)$/.exec(spec)!;
    const address = m[2]!.replace(/^\[(.*)\]$/, "$1");
    if (address === "") return { error: `host ${JSON.stringify(spec)} names no machine` };
    // "$host", "${env.X}", "{{HOST}}", "%HOST%": left for a script or a template tool to fill in; lsyncd
    // would hand it to ssh as written, which resolves no such machine.
    if (/\$\{?[A-Za-z_]|\{\{|\}\}|^%[A-Za-z_]+%$/.test(address))
      return { error: `host ${JSON.stringify(spec)} is a template placeholder, not a machine (something is meant to replace it before lsyncd reads the file); import the filled-in config` };
    const c: Conn = { ...(m[1] ? { user: m[1] } : {}), ...conn };
    let h = hostByAddress.get(address);
    if (!h) {
      h = { name: names[address] ?? `node-${hostByAddress.size + 1}`, address, conn: c, line };
      hostByAddress.set(address, h);
      draft.hosts.push(h);
    } else if (JSON.stringify(h.conn) !== JSON.stringify(c)) {
      warn(line, `host ${address} is reached with different ssh settings by different syncs; the first are kept`);
    }
    return { name: h.name };
  };

  const byKey = new Map<string, SyncDraft>();
  for (const call of rec.syncs) {
    const line = call.line;
    if (!isTable(call.value)) {
      skip(line, "sync{} argument is not a table");
      continue;
    }
    const { map: cfg, layers } = flatten(call.value);
    const layer = layers[0];
    const customs = CUSTOM.filter((k) => cfg[k] !== undefined);
    // An action that never hands the event to the layer's (default.rsync.action(inlet)) transfers
    // nothing the way the layer would: importing it as the layer would change what it does.
    const action = layer ? cfg.action : undefined;
    if (layer && action !== undefined && !delegates(action, source)) {
      skip(line, `custom ${actionsText(["action"], cfg)} replaces default.${layer}'s own and never calls it (no default.${layer}.action or default.action in it), so lsyncd does not transfer there as default.${layer} does; tsync cannot run it`);
      continue;
    }
    // On a default.* layer: action/prepare/collect/full replace the layer's own (which tsync does);
    // on* handlers are never called, as the layer's action handles every event itself (default.lua's
    // action, the one that calls them, is replaced by the layer's).
    if (layer) for (const k of customs) {
      if (k === "onMove" && cfg[k] === true) continue;
      if (k.startsWith("on"))
        warn(line, `${actionsText([k], cfg)}: lsyncd never calls it (default.${layer}'s action handles every event), and tsync does not either`);
      else
        warn(line, `custom ${actionsText([k], cfg)} replaces default.${layer}'s own and is not translated: tsync does what default.${layer} does; a command it runs after a transfer goes in the sync's onChange: [{ run: ... }]`);
    }
    if (!layer) {
      skip(line, `sync{} does not build on default.rsync, default.rsyncssh or default.direct${customs.length ? ` but runs its own ${actionsText(customs, cfg)}; tsync replicates files and runs no per-event commands` : ""}`);
      continue;
    }
    for (const k of Object.keys(cfg)) {
      if (k === "rsyncOps") warn(line, "unknown option 'rsyncOps' ignored (lsyncd: did you mean rsyncOpts?)");
      else if (UNTRANSLATED.has(k)) warn(line, `option '${k}' has no tsync equivalent and is ignored`);
      else if (!IGNORED.has(k) && !customs.includes(k) && k !== "onMove") warn(line, `unknown option '${k}' ignored`);
    }
    if (typeof cfg.maxProcesses === "number" && cfg.maxProcesses !== 1)
      warn(line, `sync maxProcesses = ${cfg.maxProcesses} ignored: tsync's limit is settings.maxProcesses`);

    const comments: Record<string, string[]> = { "": [], exclude: [], delete: [], preserve: [], delay: [], targets: [] };
    if (typeof cfg.source !== "string" || cfg.source === "") {
      skip(line, `sync{} source ${JSON.stringify(cfg.source ?? null)} is not a directory path`);
      continue;
    }
    const src = local(cfg.source, "source", line);
    if (src === undefined) continue;
    if (cfg.init === false) {
      // lsyncd: no startup rsync; only later changes travel. tsync has no "skip the first pass".
      warn(line, "init = false (lsyncd skips the startup sync and only sends later changes) has no tsync equivalent: tsync's first apply makes the targets equal to the source" +
        `${cfg.delete === false ? "" : ", deleting what only a target has"}; run \`tsync plan\` first, and set maxDelete: 0 to refuse any deletion until you have looked`);
      comments[""]!.push("lsyncd: init = false — tsync's first apply is a full sync; check `tsync plan` first");
    } else if (cfg.init !== undefined && cfg.init !== true) {
      warn(line, `cannot translate custom action 'init'${funcAt(cfg.init)}`);
    }

    // Preserve: lsyncd 2.0 rsyncOpts (a string replacing "-lts") or the 2.1+ rsync table (merged with defaults).
    const preserve = new Set<PreserveKey>();
    const meanings: RsyncMeaning[] = [];
    if (cfg.rsyncOpts !== undefined) {
      meanings.push(take(line, translateRsyncOpts(cfg.rsyncOpts), comments.preserve));
      comments.preserve!.unshift(`lsyncd: rsyncOpts = ${luaText(cfg.rsyncOpts)}`);
    }
    const rsyncTable = mergeTables(isTable(cfg.rsync) ? cfg.rsync : undefined, DEFAULT_RSYNC);
    if (cfg.rsyncOpts === undefined || isTable(cfg.rsync)) {
      meanings.push(take(line, translateRsyncTable(rsyncTable), comments.preserve));
      comments.preserve!.unshift(`lsyncd: rsync = ${luaText(rsyncTable)}`);
    }
    const refusal = meanings.find((m) => m.refuse !== undefined)?.refuse;
    if (refusal !== undefined) {
      skip(line, refusal);
      continue;
    }
    meanings.forEach((m) => m.preserve.forEach((k) => preserve.add(k)));
    if (layer === "direct") {
      // default.direct copies live changes with `cp -p` (mode, owner, group, times); only startup uses rsync.
      const added = ARCHIVE_KEYS.filter((k) => !preserve.has(k));
      ARCHIVE_KEYS.forEach((k) => preserve.add(k));
      if (added.length) comments.preserve!.push(`lsyncd default.direct copies changes with cp -p: ${added.join(", ")} kept as it does`);
    }

    let conn: Conn = {};
    const rsh = typeof rsyncTable.map.rsh === "string" ? rsyncTable.map.rsh : meanings.find((m) => m.rsh !== undefined)?.rsh;
    if (rsh !== undefined) conn = { ...conn, ...take(line, translateSshArgs(rsh.split(/\s+/).filter(Boolean)), comments[""]) };
    if (layer === "rsyncssh" && isTable(cfg.ssh)) conn = { ...conn, ...take(line, translateSshTable(cfg.ssh), comments[""]) };
    if (meanings.some((m) => m.sudo)) conn = { ...conn, sudo: true };

    const target = targetOf(layer, cfg, (spec) => hostFor(line, spec, conn), (p) => local(p, "target", line));
    if (typeof target !== "string") {
      if (target.error) skip(line, target.error);
      continue;
    }
    if (target.includes(":~/")) comments.targets!.push("lsyncd: relative to the login directory; tsync resolves ~ on the target when it connects");

    // The rules rsync gets, in lsyncd's order: filter (and filterFrom), then exclude (and excludeFrom),
    // then the rsync options' own --include/--exclude/--filter.
    const strings = (v: LuaValue | undefined) => (typeof v === "string" ? [v] : isTable(v) ? v.arr.filter((p): p is string => typeof p === "string") : []);
    const rules: FilterRule[] = [];
    let badFilter: string | undefined;
    const fileNotes: string[] = [];
    const addFilters = (texts: readonly string[], from: string) => {
      for (const text of texts) {
        // lsyncd's own parse: `%s*([+|-])%s*(.*)`; anything else stops lsyncd at startup.
        const m = /^\s*([+-])\s*(.*)$/.exec(text);
        if (m && m[2] !== "") rules.push({ include: m[1] === "+", pattern: m[2]! });
        else badFilter ??= `${from} rule ${JSON.stringify(text)} is not "+ PATTERN" or "- PATTERN" (lsyncd stops at it)`;
      }
    };
    addFilters(strings(cfg.filter), "filter");
    const fromFile = (key: "filterFrom" | "excludeFrom"): string[] | undefined => {
      const file = cfg[key];
      if (typeof file !== "string") return undefined;
      const text = read(file);
      if (typeof text !== "string") {
        warn(line, `${key} '${file}' cannot be read here (${text.error}): copy its patterns into exclude`);
        fileNotes.push(`lsyncd: ${key} = ${file} — copy its patterns here`);
        return undefined;
      }
      fileNotes.push(`lsyncd: ${key} = ${file}, as it read when imported`);
      return text.split(/\r?\n/).filter((l) => !/^\s*(#|$)/.test(l));
    };
    const filterLines = fromFile("filterFrom");
    if (filterLines) addFilters(filterLines, "filterFrom");
    if (badFilter !== undefined) {
      skip(line, badFilter);
      continue;
    }
    for (const p of strings(cfg.exclude)) rules.push({ include: false, pattern: p });
    // lsyncd's excludeFrom: "+" lines, comments and blank lines are skipped, a leading "-" dropped.
    for (const l of fromFile("excludeFrom") ?? []) if (!/^\s*\+/.test(l)) rules.push({ include: false, pattern: /^\s*-?\s*(.*)$/.exec(l)![1]! });
    for (const m of meanings) rules.push(...m.rules);
    const exclude = take(line, translateRules(rules), comments.exclude);
    comments.exclude!.push(...fileNotes);

    let del = take(line, translateDelete(cfg.delete), comments.delete);
    if (!del && meanings.some((m) => m.deletes)) {
      warn(line, "rsync --delete in the rsync options makes every lsyncd transfer delete despite delete = false; imported as delete: true");
      comments.delete!.push("lsyncd: delete = false, but the rsync options pass --delete");
      del = true;
    }
    let delaySeconds: number;
    if (settingsDelay && typeof settingsDelay.value === "number") {
      delaySeconds = settingsDelay.value;
      comments.delay!.push(`lsyncd: settings.delay = ${settingsDelay.value}`);
    } else if (typeof cfg.delay === "number") {
      delaySeconds = cfg.delay;
    } else {
      delaySeconds = LAYER_DELAY[layer];
      comments.delay!.push(`lsyncd default.${layer} delay`);
    }

    const chown = meanings.map((m) => m.chown).filter((c) => c !== undefined).pop();
    const protect = take(line, translateRules(meanings.flatMap((m) => m.protect).map((pattern) => ({ include: false, pattern }))), comments.exclude);
    const draftSync: SyncDraft = {
      name: "", source: src, targets: [target], exclude, delete: del, preserve: (["perms", "times", "owner", "group", "hardlinks"] as const).filter((k) => preserve.has(k)),
      ...(chown !== undefined ? { chown } : {}), protect,
      delay: formatDelay(delaySeconds), lines: [line], comments,
    };
    const key = JSON.stringify([src, exclude, del, draftSync.preserve, chown ?? null, protect, draftSync.delay, cfg.excludeFrom ?? null, cfg.filterFrom ?? null]);
    const same = byKey.get(key);
    if (same) {
      if (!same.targets.includes(target)) {
        same.targets.push(target);
        same.lines.push(line);
      }
      continue;
    }
    byKey.set(key, draftSync);
    draft.syncs.push(draftSync);
  }
  nameSyncs(draft.syncs);
  rec.notes.forEach((n) => warn(n.line, n.message));
  return { draft, warnings: [...new Set(warnings)], skipped: [...new Set(skipped)] };

  /** An lsyncd local path: absolute, or relative to lsyncd's working directory (taken to be `base`). */
  function local(p: string, what: "source" | "target", line: number): string | undefined {
    if (p.startsWith("/")) return normPath(p);
    if (p.startsWith("~")) {
      skip(line, `${what} ${JSON.stringify(p)} starts with ~, which lsyncd does not expand (it is a directory named "~"); write the absolute path`);
      return undefined;
    }
    if (opts.base === undefined) {
      skip(line, `${what} ${JSON.stringify(p)} is relative to lsyncd's working directory; pass --base DIR to resolve it`);
      return undefined;
    }
    const abs = posix.resolve(opts.base, p);
    warn(line, `${what} ${JSON.stringify(p)} is relative: lsyncd resolves it against its working directory; imported as ${abs} (--base ${opts.base})`);
    return abs;
  }
}

const ARCHIVE_KEYS: PreserveKey[] = ["perms", "times", "owner", "group"];

/** Whether a function defined in the config mentions a layer's action, i.e. may hand events to it. */
function delegates(v: LuaValue, source: string): boolean {
  if (typeof v !== "object" || v.t !== "function" || v.line === 0) return false;
  const body = source.split("\n").slice(v.line - 1, v.last).join("\n").replace(/--[^\n]*/g, "");
  return /\bdefault\s*\.\s*(?:(?:rsync|rsyncssh|direct)\s*\.\s*)?action\b/.test(body);
}

/** `onCreate, onModify = "php ... ^sourcePathname", action (function at line 10)`: keys sharing a value once. */
function actionsText(keys: readonly string[], cfg: Record<string, LuaValue>): string {
  const byValue = new Map<string, string[]>();
  for (const k of keys) {
    const v = cfg[k]!;
    const shown = typeof v === "string" ? ` = ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}` : funcAt(v);
    byValue.set(shown, [...(byValue.get(shown) ?? []), k]);
  }
  return [...byValue].map(([shown, ks]) => `${ks.join(", ")}${shown}`).join("; ");
}

function funcAt(v: LuaValue): string {
  return typeof v === "object" && v.t === "function" && v.line > 0 ? ` (function at line ${v.line})` : "";
}

/** lsyncd's `inherit`: own keys first, then integer-keyed layers; tables merge, present keys win. */
function flatten(t: LuaTable, map: Record<string, LuaValue> = {}, layers: Layer[] = []) {
  for (const [k, v] of Object.entries(t.map)) {
    const have = map[k];
    if (have === undefined) map[k] = v;
    else if (isTable(have) && isTable(v)) map[k] = mergeTables(have, v);
  }
  for (const v of t.arr) {
    if (isTable(v)) flatten(v, map, layers);
    else if (typeof v === "object" && v.t === "default") layers.push(v.name);
  }
  return { map, layers };
}

function mergeTables(a: LuaTable | undefined, b: LuaTable): LuaTable {
  return { t: "table", arr: a?.arr ?? b.arr, map: { ...b.map, ...(a?.map ?? {}) } };
}

type TargetResult = string | { error?: string };

/**
 * lsyncd's target forms → a tsync location. A remote path relative to the login directory (rsync's
 * `host:dir`, `host:~/dir`) becomes `~/dir`, which tsync resolves on the target when it connects.
 */
function targetOf(
  layer: Layer,
  cfg: Record<string, LuaValue>,
  host: (spec: string) => { name: string } | { error: string },
  local: (p: string) => string | undefined,
): TargetResult {
  const remote = (spec: string, dir: string, shown: string): TargetResult => {
    let path = normPath(dir);
    if (!dir.startsWith("/")) {
      if (/^~[^/]/.test(dir)) return { error: `target ${JSON.stringify(shown)} is relative to another user's home (~user); write the absolute path` };
      const rel = loginRelative(`~/${dir.replace(/^~\/?/, "")}`);
      if (rel === undefined)
        return { error: `target ${JSON.stringify(shown)} is the login directory on ${spec} itself (or leaves it with ".."); tsync replicates into a directory below it, never over the home (and its .ssh)` };
      path = rel;
    }
    const h = host(spec);
    return "error" in h ? h : `${h.name}:${path}`;
  };
  if (layer === "rsyncssh") {
    if (typeof cfg.host !== "string") return { error: "default.rsyncssh needs host = \"[USER@]HOST\"" };
    if (typeof cfg.targetdir !== "string") return { error: "default.rsyncssh needs targetdir" };
    return remote(cfg.host, cfg.targetdir, `${cfg.host}:${cfg.targetdir}`);
  }
  const t = cfg.target;
  if (typeof t !== "string" || t === "")
    return { error: `default.${layer} needs a target${cfg.host !== undefined || cfg.targetdir !== undefined ? " (host and targetdir are default.rsyncssh's keys)" : ""}` };
  if (/^rsync:\/\//i.test(t)) return { error: `target ${JSON.stringify(t)} is an rsync daemon URL; tsync replicates over SSH only (use HOST:/abs/path)` };
  const m = /^((?:[^@:/]*@)?(?:\[[^\]]+\]|[^:/]*)):(.*)$/.exec(t);
  if (layer === "rsync" && m) {
    if (m[2]!.startsWith(":")) return { error: `target ${JSON.stringify(t)} is an rsync daemon module (HOST::MODULE); tsync replicates over SSH only (use HOST:/abs/path)` };
    return remote(m[1]!, m[2]!, t);
  }
  if (!t.startsWith("/") && t.includes("@"))
    return { error: `target ${JSON.stringify(t)} has no ':', so rsync reads it as a local directory of that name; for a remote target write ${t}:/abs/path` };
  const p = local(t);
  return p === undefined ? {} : p;
}

function nameSyncs(syncs: SyncDraft[]): void {
  const used = new Set<string>();
  for (const s of syncs) {
    let base = (s.source.split("/").filter(Boolean).pop() ?? "root").replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 60);
    if (!/^[A-Za-z0-9_]/.test(base)) base = `sync-${base}`;
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${base}-${i}`;
    used.add(name);
    s.name = name;
  }
}

function normPath(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, "") || "/" : p;
}

function formatDelay(seconds: number): string {
  return Number.isInteger(seconds) && seconds >= 0 ? `${seconds}s` : `${Math.max(0, Math.round(seconds * 1000))}ms`;
}

function lineOf(source: string, re: RegExp): number {
  const m = re.exec(source);
  return m ? source.slice(0, m.index + m[0].search(/\S/)).split("\n").length : 0;
}

/** A short Lua rendering of a recorded value for comments. */
function luaText(v: LuaValue): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (!isTable(v)) return typeof v === "object" ? v.t : String(v);
  const on = Object.entries(v.map).filter(([k, x]) => truthy(x) && k !== "_extra");
  return `{ ${on.map(([k, x]) => (x === true ? `${k}` : `${k} = ${luaText(x)}`)).join(", ")} }`;
}
