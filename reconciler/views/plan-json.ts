// Plan ⇄ the versioned wire document of schemas/plan.schema.json. Names are bytes: a path that is not
// valid UTF-8 travels as base64 beside its lossy text, so a saved plan round-trips exactly.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Ajv2020 } from "ajv/dist/2020.js";
import { CHANGE_KINDS, kindFromWire, type Change } from "../model/change.js";
import type { Entry } from "../model/snapshot.js";
import type { Plan, TargetPlan, NginxPlan } from "../model/plan.js";
import { summarize } from "../model/plan.js";
import type { RelPath } from "../model/paths.js";
import { toBytes } from "../model/paths.js";
import { TsyncError } from "../model/errors.js";
import { TOOL } from "../model/version.js";
import { packageFile } from "../model/package-files.js";

export const FORMAT_VERSION = 1;

type Json = Record<string, unknown>;

/** Text of latin1-held bytes, plus the exact bytes when they are not valid UTF-8. */
export function encodeBytes(held: string, key: string, b64Key: string): Json {
  const bytes = toBytes(held);
  const text = bytes.toString("utf8");
  return Buffer.from(text, "utf8").equals(bytes) ? { [key]: text } : { [key]: text, [b64Key]: bytes.toString("base64") };
}

function decodeBytes(j: Json, key: string, b64Key: string): string {
  const b64 = j[b64Key];
  const bytes = typeof b64 === "string" ? Buffer.from(b64, "base64") : Buffer.from(String(j[key]), "utf8");
  return bytes.toString("latin1");
}

function entryToJson(e: Entry): Json {
  if (e.kind === "problem") return { type: "problem", error: e.error };
  const j: Json = { type: e.kind, mode: "0" + e.mode.toString(8).padStart(3, "0"), mtimeMs: e.mtimeMs };
  if (e.uid !== undefined) j.uid = e.uid;
  if (e.gid !== undefined) j.gid = e.gid;
  if (e.kind === "file") {
    j.size = e.size;
    if (e.hash !== undefined) j.hash = e.hash;
  }
  if (e.kind === "symlink") Object.assign(j, encodeBytes(e.target, "target", "targetBase64"));
  return j;
}

function entryFromJson(j: Json): Entry {
  if (j.type === "problem") return { kind: "problem", error: String(j.error ?? "") };
  const meta = {
    mode: parseInt(String(j.mode ?? "0"), 8),
    mtimeMs: Number(j.mtimeMs ?? 0),
    ...(j.uid !== undefined ? { uid: Number(j.uid) } : {}),
    ...(j.gid !== undefined ? { gid: Number(j.gid) } : {}),
  };
  if (j.type === "file") return { kind: "file", ...meta, size: Number(j.size ?? 0), ...(j.hash ? { hash: String(j.hash) } : {}) };
  if (j.type === "symlink") return { kind: "symlink", ...meta, target: decodeBytes(j, "target", "targetBase64") };
  return { kind: "dir", ...meta };
}

function changeToJson(c: Change): Json {
  return {
    action: CHANGE_KINDS[c.kind].wire,
    ...encodeBytes(c.path, "path", "pathBase64"),
    ...("before" in c && c.before ? { before: entryToJson(c.before) } : {}),
    ...("after" in c && c.after ? { after: entryToJson(c.after) } : {}),
    ...(c.kind === "create" && c.from
      ? { ...encodeBytes(c.from.path, "from", "fromBase64"), fromEntry: entryToJson(c.from.entry), ...(c.from.link ? { fromLink: true } : {}) }
      : {}),
  };
}

function changeFromJson(j: Json): Change {
  // The schema's action enum is the table's wire names; a plan from a newer tsync may carry others.
  const kind = kindFromWire(String(j.action));
  if (kind === undefined) throw new TsyncError("plan-invalid", `unknown change action ${JSON.stringify(j.action)} (made by a newer tsync?)`);
  const path = decodeBytes(j, "path", "pathBase64") as RelPath;
  const before = j.before ? entryFromJson(j.before as Json) : undefined;
  const after = j.after ? entryFromJson(j.after as Json) : undefined;
  // The schema ties `from` to a create with a file `fromEntry`.
  const from =
    j.from !== undefined
      ? { path: decodeBytes(j, "from", "fromBase64") as RelPath, entry: entryFromJson(j.fromEntry as Json), ...(j.fromLink === true ? { link: true } : {}) }
      : undefined;
  return { kind, path, ...(before ? { before } : {}), ...(after ? { after } : {}), ...(from ? { from } : {}) } as Change;
}

/** Binds a target's changes to what they were planned against; an edited plan no longer matches. */
function fingerprint(t: TargetPlan): string {
  const h = createHash("sha256");
  h.update(JSON.stringify([t.sync, t.target.host ?? null, t.target.path, t.refused ?? null, t.changes.map(changeToJson), ...(t.root !== undefined ? [t.root] : [])]));
  return "sha256:" + h.digest("hex");
}

function targetToJson(t: TargetPlan): Json {
  return {
    sync: t.sync,
    target: { ...(t.target.host !== undefined ? { host: t.target.host } : {}), path: t.target.path },
    location: t.target.host === undefined ? t.target.path : `${t.target.host}:${t.target.path}`,
    ...(t.root !== undefined ? { root: t.root } : {}),
    state: t.state,
    ...(t.error !== undefined ? { error: t.error } : {}),
    ...(t.hint !== undefined ? { hint: t.hint } : {}),
    ...(t.cause !== undefined ? { cause: t.cause } : {}),
    ...(t.refused !== undefined ? { refused: t.refused } : {}),
    changes: t.changes.map(changeToJson),
    problems: t.problems.map((p) => ({ side: p.side, ...encodeBytes(p.path, "path", "pathBase64"), error: p.error })),
    ...(t.hooks ? { hooks: t.hooks.map((h) => ({ run: h.run, changes: h.paths.length })) } : {}),
    fingerprint: fingerprint(t),
  };
}

export function toPlanJson(plan: Plan): Json {
  return {
    formatVersion: FORMAT_VERSION,
    tool: TOOL,
    manifest: { file: plan.manifestFile, digest: "sha256:" + plan.manifestDigest },
    createdAt: plan.createdAt,
    deep: plan.deep,
    targets: plan.targets.map(targetToJson),
    ...(plan.nginx ? { nginx: { ...plan.nginx } } : {}),
    summary: { ...plan.summary },
  };
}

/**
 * The bytes a signature covers: the document without `signature`, as JSON with every object's keys
 * sorted and no whitespace, so that re-indenting a plan file does not break its signature.
 */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Json;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

function signatureOf(doc: Json, key: Buffer): string {
  const { signature: _, ...rest } = doc;
  return "hmac-sha256:" + createHmac("sha256", key).update(canonicalJson(rest)).digest("hex");
}

/**
 * The plan document signed with `key` (HMAC-SHA256): the fingerprints catch accidental edits, but
 * they are public recipes; only a key holder can make a plan that `apply` accepts while a key is set.
 */
export function signPlanJson(doc: Json, key: Buffer): Json {
  return { ...doc, signature: signatureOf(doc, key) };
}

function checkSignature(j: Json, file: string, key: Buffer): void {
  const sig = j.signature;
  if (typeof sig !== "string")
    throw new TsyncError("plan-unsigned", `${file}: refused: the plan is not signed and a plan key is set (TSYNC_PLAN_KEY or --plan-key-file); nothing was changed (make it with tsync plan --out while the key is set)`);
  const want = Buffer.from(signatureOf(j, key));
  const got = Buffer.from(sig);
  if (got.length !== want.length || !timingSafeEqual(got, want))
    throw new TsyncError("plan-signature", `${file}: refused: the plan's signature does not match the plan key (edited after signing, or signed with another key); nothing was changed`);
}

type Validator = ((doc: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };

/**
 * A checker for schemas/`name` (which may $ref the schemas in `refs`): undefined or the first problem.
 * ajv is loaded and the schema compiled on first use: only `apply PLANFILE` needs it, and loading
 * ajv costs every plan and apply a tenth of a second otherwise.
 */
export function schemaChecker(name: string, refs: readonly string[] = []): (doc: unknown) => string | undefined {
  let validator: Validator | undefined;
  return (doc) => {
    if (!validator) {
      const read = (n: string) => JSON.parse(readFileSync(packageFile(`schemas/${n}`), "utf8"));
      const require = createRequire(import.meta.url);
      const { Ajv2020: Ajv } = require("ajv/dist/2020.js") as typeof import("ajv/dist/2020.js");
      const ajv = new Ajv({ allErrors: false, strict: false });
      (require("ajv-formats") as { default: (a: Ajv2020) => void }).default(ajv);
      for (const r of refs) ajv.addSchema(read(r));
      validator = ajv.compile(read(name)) as Validator;
    }
    if (validator(doc)) return undefined;
    const e = validator.errors?.[0];
    return e ? `${e.instancePath || "(document)"} ${e.message ?? "is invalid"}` : "is invalid";
  };
}
const validatePlanDoc = schemaChecker("plan.schema.json");

/** Schema-checks a plan document (tests and `apply PLANFILE`): undefined or the first problem. */
export function checkPlanJson(doc: unknown): string | undefined {
  return validatePlanDoc(doc);
}

export interface ParsePlanOptions {
  /** The plan key: the plan must carry a valid signature made with it. */
  readonly key?: Buffer;
  /** Told when the plan is signed but no key was given to check it with. */
  readonly onUnchecked?: () => void;
}

/** Parses a saved plan; throws TsyncError naming the file for anything unusable. */
export function parsePlanJson(text: string, file: string, opts: ParsePlanOptions = {}): Plan {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new TsyncError("plan-invalid", `${file}: not a tsync plan: ${(err as Error).message}`);
  }
  const problem = validatePlanDoc(doc);
  if (problem) throw new TsyncError("plan-invalid", `${file}: not a valid tsync plan: ${problem}`);
  const j = doc as Json;
  if (opts.key) checkSignature(j, file, opts.key);
  else if (j.signature !== undefined) opts.onUnchecked?.();
  const targets: TargetPlan[] = (j.targets as Json[]).map((t) => {
    const loc = t.target as Json;
    const tp: TargetPlan = {
      sync: String(t.sync),
      target: { ...(loc.host !== undefined ? { host: String(loc.host) } : {}), path: String(loc.path) },
      state: t.state as TargetPlan["state"],
      ...(t.error !== undefined ? { error: String(t.error) } : {}),
      ...(t.hint !== undefined ? { hint: String(t.hint) } : {}),
      ...(t.cause === "source" ? { cause: "source" as const } : {}),
      ...(t.refused !== undefined ? { refused: String(t.refused) } : {}),
      ...(t.root !== undefined ? { root: String(t.root) } : {}),
      changes: (t.changes as Json[]).map(changeFromJson),
      problems: (t.problems as Json[]).map((p) => ({ side: p.side as "source" | "target", path: decodeBytes(p, "path", "pathBase64") as RelPath, error: String(p.error) })),
    };
    if (fingerprint(tp) !== t.fingerprint) {
      throw new TsyncError("plan-edited", `${file}: the plan for ${String(t.location)} was edited after it was made (fingerprint mismatch); make a new plan`);
    }
    return tp;
  });
  const nginx = j.nginx as NginxPlan | undefined;
  const m = j.manifest as Json;
  return {
    manifestFile: String(m.file),
    manifestDigest: String(m.digest).replace(/^sha256:/, ""),
    createdAt: String(j.createdAt),
    deep: Boolean(j.deep),
    targets,
    ...(nginx ? { nginx } : {}),
    summary: summarize(targets, nginx),
  };
}
