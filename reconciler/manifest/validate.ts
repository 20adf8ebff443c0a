// JSON Schema validation (schemas/manifest.schema.json) with every ajv error turned into one human,
// positioned line. The schema avoids oneOf/anyOf (if/then/else and type unions instead) so a single
// mistake yields a single ajv error; what noise remains is dropped here.

import type { ErrorObject } from "ajv";
import schema from "../../schemas/manifest.schema.json" with { type: "json" };
import generated from "./manifest-validator.generated.js";
import type { Diagnostic } from "../model/diagnostics.js";
import { closest, diagnosticAt, formatKeyPath, type Seg, type SourceDoc } from "./position.js";

export const manifestSchema: unknown = schema;

// Compiled at build time (tools/gen-manifest-validator.ts; a unit test keeps it equal to the schema).
// verbose: errors carry their parentSchema, where the schema's `errorMessage` (the text editors such as
// yaml-language-server show too) lives.
const validateFn = generated as ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** Schema diagnostics for `data` (the document as plain JS), positioned in `src`. */
export function validateSchema(data: unknown, src: SourceDoc): Diagnostic[] {
  if (validateFn(data)) return [];
  const errors = (validateFn.errors ?? []).filter((e) => e.keyword !== "if" && e.keyword !== "propertyNames");
  // A wrong type makes any other complaint about the same value noise.
  const typed = new Set(errors.filter((e) => e.keyword === "type").map(errorKey));
  // `adress: x` yields both "unknown key adress" and "missing address": the hint already says it all.
  const hinted = new Set(errors.flatMap((e) => (e.keyword === "additionalProperties" ? [`${e.instancePath}\0${hintFor(e) ?? ""}`] : [])));
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const e of errors) {
    if (e.keyword !== "type" && typed.has(errorKey(e))) continue;
    if (e.keyword === "required" && hinted.has(`${e.instancePath}\0${String(e.params.missingProperty)}`)) continue;
    const d = toDiagnostic(e, src, data);
    const id = `${d.path}\0${d.message}\0${d.start?.offset}`;
    if (!seen.has(id)) out.push(d), seen.add(id);
  }
  return out;
}

/**
 * What is left of `data` once every value the schema rejects is cut out, so the rules can still check
 * the rest: an unknown key, a value of the wrong form, an object missing a required key. A bad list
 * item takes its whole list, so the indexes the rules report stay those of the file. Cutting may make
 * the parent invalid (a sync without `targets`), so it repeats until valid. Undefined when nothing
 * valid is left (the root itself is rejected, e.g. without `version`).
 */
export function schemaValidPart(data: unknown): unknown {
  const copy = structuredClone(data);
  for (let round = 0; round < 32; round++) {
    if (validateFn(copy)) return copy;
    for (const e of validateFn.errors ?? []) {
      if (e.keyword === "if") continue;
      let path = decodePointer(e.instancePath, copy);
      if (e.keyword === "additionalProperties") path = [...path, String(e.params.additionalProperty)];
      else if (e.propertyName !== undefined) path = [...path, e.propertyName];
      const list = path.findIndex((s) => typeof s === "number");
      if (list >= 0) path = path.slice(0, list);
      if (path.length === 0) return undefined;
      cut(copy, path);
    }
  }
  return undefined;
}

/** Deletes the key at `path`, if an earlier cut has not taken it already. */
function cut(root: unknown, path: readonly Seg[]): void {
  let node = root as Record<string, unknown> | undefined;
  for (const s of path.slice(0, -1)) node = node?.[s] as Record<string, unknown> | undefined;
  const last = String(path[path.length - 1]);
  if (node && typeof node === "object") delete node[last];
}

/** For an unknown key: the closest key the schema allows there. */
function hintFor(e: ErrorObject): string | undefined {
  const props = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? closest(String(e.params.additionalProperty), Object.keys(props).filter((k) => k !== "$schema")) : undefined;
}

function errorKey(e: ErrorObject): string {
  return `${e.instancePath}\0${e.propertyName ?? ""}`;
}

function decodePointer(pointer: string, data: unknown): Seg[] {
  if (pointer === "") return [];
  const segs: Seg[] = [];
  let node = data;
  for (const raw of pointer.slice(1).split("/")) {
    const s = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    const seg: Seg = Array.isArray(node) ? Number(s) : s;
    segs.push(seg);
    node = node && typeof node === "object" ? (node as Record<string, unknown>)[s] : undefined;
  }
  return segs;
}

function toDiagnostic(e: ErrorObject, src: SourceDoc, data: unknown): Diagnostic {
  const segs = decodePointer(e.instancePath, data);
  const custom = (e.parentSchema as { errorMessage?: string } | undefined)?.errorMessage;
  if (e.propertyName !== undefined) {
    // A bad key under propertyNames: name the key, point at it.
    return diagnosticAt(src, "schema", [...segs, e.propertyName], `${JSON.stringify(e.propertyName)} ${custom ?? fallback(e)}`, { key: true });
  }
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(e.params.additionalProperty);
      const hint = hintFor(e);
      const msg = `unknown key ${JSON.stringify(key)}` + (hint ? `; did you mean ${JSON.stringify(hint)}?` : "");
      return { ...diagnosticAt(src, "unknown-key", [...segs, key], msg, { key: true }), path: formatKeyPath(segs) };
    }
    case "required":
      return diagnosticAt(src, "missing-key", segs, `missing required key ${JSON.stringify(e.params.missingProperty)}`, { key: true });
    case "uniqueItems": {
      const later = Math.max(e.params.i as number, e.params.j as number);
      return diagnosticAt(src, "schema", [...segs, later], `repeats ${JSON.stringify((e.data as unknown[])[later])}, already listed`);
    }
    default:
      return diagnosticAt(src, "schema", segs, custom ?? fallback(e));
  }
}

const TYPE_WORDS: Record<string, string> = {
  object: "a mapping (key: value)",
  array: "a list",
  string: "text",
  integer: "a whole number",
  number: "a number",
  boolean: "true or false",
};

function fallback(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "type":
      return `must be ${String(p.type).split(",").map((t) => TYPE_WORDS[t] ?? t).join(" or ")}`;
    case "enum":
      return `must be one of ${(p.allowedValues as unknown[]).map(String).join(", ")}`;
    case "const":
      return `must be ${JSON.stringify(p.allowedValue)}`;
    case "minLength":
      return "must not be empty";
    case "maxLength":
      return `must be at most ${String(p.limit)} characters`;
    case "minItems":
      return p.limit === 1 ? "must list at least one item" : `must list at least ${String(p.limit)} items`;
    case "minProperties":
      return "must have at least one entry";
    case "minimum":
      return `must be at least ${String(p.limit)}`;
    case "maximum":
      return `must be at most ${String(p.limit)}`;
    case "pattern":
      return "is not written in the expected form";
    default:
      return e.message ?? "is invalid";
  }
}
