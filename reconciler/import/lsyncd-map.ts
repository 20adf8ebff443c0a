// What an lsyncd config recorded → a tsync manifest draft: hosts from target addresses, one sync per
// distinct (source, rules) with all its targets, settings. Warnings carry the Lua line of the call.
// Rendering the draft as commented YAML is lsyncd-render.ts.

import type { LuaTable, LuaValue, Recorded } from "./lsyncd-eval.js";
import {
  isTable, translateDelete, translateExclude, translateRsyncOpts, translateRsyncTable, translateSshArgs, translateSshTable,
  truthy, type Conn, type PreserveKey, type Translated,
} from "./lsyncd-options.js";

export interface HostDraft { name: string; address: string; conn: Conn }
export interface SyncDraft {
  name: string;
  source: string;
  targets: string[];
  exclude: string[];
  delete: boolean;
  preserve: PreserveKey[];
  delay: string;
  /** Comments per manifest key of this sync ("" for the sync itself). */
  comments: Record<string, string[]>;
}
export interface ManifestDraft {
  settings: { maxProcesses?: number; statusFile?: string; logFile?: string };
  settingsComments: Record<string, string[]>;
  hosts: HostDraft[];
  syncs: SyncDraft[];
}
export interface MapResult { draft: ManifestDraft; warnings: string[] }

type Layer = "rsync" | "rsyncssh" | "direct";
const LAYER_DELAY: Record<Layer, number> = { rsync: 15, rsyncssh: 15, direct: 1 };
/** lsyncd 2.1+ default.rsync.rsync; lsyncd 2.0's `rsyncOpts = "-lts"` means the same for tsync. */
const DEFAULT_RSYNC: LuaTable = { t: "table", arr: [], map: { links: true, times: true, protect_args: true } };
const CUSTOM = ["action", "init", "prepare", "collect", "onCreate", "onModify", "onDelete", "onMove", "onAttrib", "onStartup", "onFull", "full"];
const IGNORED = new Set(["source", "target", "host", "targetdir", "delay", "delete", "exclude", "excludeFrom", "rsync", "rsyncOpts", "ssh", "rsyncBinary", "maxProcesses", "checkgauge"]);
const UNTRANSLATED = new Set(["maxDelays", "exitcodes", "rsyncExitCodes", "sshExitCodes", "batchSizeLimit", "crontab", "tunnel", "filter", "filterFrom", "monitor"]);
const SETTINGS_IGNORED = new Set(["nodaemon", "insist"]);
const SETTINGS_UNTRANSLATED = new Set(["statusInterval", "pidfile", "logident", "logfacility", "inotifyMode", "maxDelays", "onepass"]);

export function mapRecorded(rec: Recorded, file: string, source: string, names: Record<string, string> = {}): MapResult {
  const warnings: string[] = [];
  const warn = (line: number, msg: string) => warnings.push(line > 0 ? `${file}:${line}: ${msg}` : `${file}: ${msg}`);
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
  const hostFor = (line: number, spec: string, conn: Conn): string => {
    const m = /^(?:([^@]+)@)?(.+)$/.exec(spec)!;
    const address = m[2]!.replace(/^\[(.*)\]$/, "$1");
    const c: Conn = { ...(m[1] ? { user: m[1] } : {}), ...conn };
    let h = hostByAddress.get(address);
    if (!h) {
      h = { name: names[address] ?? `node-${hostByAddress.size + 1}`, address, conn: c };
      hostByAddress.set(address, h);
      draft.hosts.push(h);
    } else if (JSON.stringify(h.conn) !== JSON.stringify(c)) {
      warn(line, `host ${address} is reached with different ssh settings by different syncs; the first are kept`);
    }
    return h.name;
  };

  const byKey = new Map<string, SyncDraft>();
  for (const call of rec.syncs) {
    const line = call.line;
    if (!isTable(call.value)) {
      warn(line, "sync{} argument is not a table; skipped");
      continue;
    }
    const { map: cfg, layers } = flatten(call.value);
    const layer = layers[0];
    const customs = CUSTOM.filter((k) => cfg[k] !== undefined);
    for (const k of customs) {
      const v = cfg[k]!;
      const where = typeof v === "object" && v.t === "function" && v.line > 0 ? ` (function at line ${v.line})` : "";
      warn(line, `cannot translate custom action '${k}'${where}`);
    }
    if (!layer) {
      warn(line, "sync{} does not build on default.rsync, default.rsyncssh or default.direct; skipped");
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
    const src = typeof cfg.source === "string" ? normPath(cfg.source) : undefined;
    if (!src || !src.startsWith("/")) {
      warn(line, `sync{} source ${JSON.stringify(cfg.source ?? null)} is not an absolute path; skipped`);
      continue;
    }

    // Preserve: lsyncd 2.0 rsyncOpts (a string replacing "-lts") or the 2.1+ rsync table (merged with defaults).
    const preserve = new Set<PreserveKey>();
    if (cfg.rsyncOpts !== undefined) {
      take(line, translateRsyncOpts(cfg.rsyncOpts), comments.preserve).forEach((k) => preserve.add(k));
      comments.preserve!.unshift(`lsyncd: rsyncOpts = ${luaText(cfg.rsyncOpts)}`);
    }
    const rsyncTable = mergeTables(isTable(cfg.rsync) ? cfg.rsync : undefined, DEFAULT_RSYNC);
    if (cfg.rsyncOpts === undefined || isTable(cfg.rsync)) {
      take(line, translateRsyncTable(rsyncTable), comments.preserve).forEach((k) => preserve.add(k));
      comments.preserve!.unshift(`lsyncd: rsync = ${luaText(rsyncTable)}`);
    }

    let conn: Conn = {};
    if (typeof rsyncTable.map.rsh === "string") conn = { ...conn, ...take(line, translateSshArgs(rsyncTable.map.rsh.split(/\s+/).filter(Boolean))) };
    if (layer === "rsyncssh" && isTable(cfg.ssh)) conn = { ...conn, ...take(line, translateSshTable(cfg.ssh)) };

    const target = targetOf(layer, cfg, (m) => warn(line, m), (spec) => hostFor(line, spec, conn));
    if (target === undefined) continue;

    const exclude: string[] = [];
    const excl = cfg.exclude;
    const patterns = typeof excl === "string" ? [excl] : isTable(excl) ? excl.arr.filter((p): p is string => typeof p === "string") : [];
    for (const p of patterns) {
      const t = take(line, translateExclude(p), comments.exclude);
      if (t !== undefined) exclude.push(t);
    }
    if (typeof cfg.excludeFrom === "string") {
      warn(line, `excludeFrom '${cfg.excludeFrom}' is not read (the importer does no file IO): copy its patterns into exclude`);
      comments.exclude!.push(`lsyncd: excludeFrom = ${cfg.excludeFrom} — copy its patterns here`);
    }

    const del = take(line, translateDelete(cfg.delete), comments.delete);
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

    const draftSync: SyncDraft = {
      name: "", source: src, targets: [target], exclude, delete: del, preserve: (["perms", "times", "owner", "group"] as const).filter((k) => preserve.has(k)),
      delay: formatDelay(delaySeconds), comments,
    };
    const key = JSON.stringify([src, exclude, del, draftSync.preserve, draftSync.delay, cfg.excludeFrom ?? null]);
    const same = byKey.get(key);
    if (same) {
      if (!same.targets.includes(target)) same.targets.push(target);
      continue;
    }
    byKey.set(key, draftSync);
    draft.syncs.push(draftSync);
  }
  nameSyncs(draft.syncs);
  rec.notes.forEach((n) => warn(n.line, n.message));
  return { draft, warnings: [...new Set(warnings)] };
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

function targetOf(layer: Layer, cfg: Record<string, LuaValue>, warn: (m: string) => void, host: (spec: string) => string): string | undefined {
  if (layer === "rsyncssh") {
    if (typeof cfg.host !== "string" || typeof cfg.targetdir !== "string" || !cfg.targetdir.startsWith("/")) {
      warn("default.rsyncssh needs host and an absolute targetdir; sync skipped");
      return undefined;
    }
    return `${host(cfg.host)}:${normPath(cfg.targetdir)}`;
  }
  const t = cfg.target;
  if (typeof t !== "string") {
    warn(`default.${layer} needs a target; sync skipped`);
    return undefined;
  }
  if (t.startsWith("/")) return normPath(t);
  const m = /^((?:[^@:/]+@)?(?:\[[^\]]+\]|[^:/]+)):(.*)$/.exec(t);
  if (layer === "rsync" && m && m[2]!.startsWith("/")) return `${host(m[1]!)}:${normPath(m[2]!)}`;
  if (m && m[2]!.startsWith(":")) warn(`target '${t}' is an rsync daemon module; tsync replicates over SSH only; sync skipped`);
  else warn(`target '${t}' is not an absolute path${layer === "rsync" ? " or HOST:/path" : ""}; sync skipped`);
  return undefined;
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
