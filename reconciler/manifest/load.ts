// Reading tsync.yaml: bytes → YAML document (with positions) → schema → rules → resolved Manifest.
// Every user mistake becomes a positioned Diagnostic; nothing here throws for one.

import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { isAlias, isCollection, isMap, LineCounter, parseDocument, visit, type YAMLError } from "yaml";
import type { Diagnostic, Position } from "../model/diagnostics.js";
import type { Manifest } from "../model/manifest.js";
import { normalize, type RawManifest } from "./normalize.js";
import { diagnosticAt, positionAt, sortDiagnostics, type SourceDoc } from "./position.js";
import { checkRules, definedNames } from "./rules.js";
import { schemaValidPart, validateSchema } from "./validate.js";

/** A manifest is a page or two of YAML; anything near this size is a wrong file, not a manifest. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

export interface LoadResult {
  /** Present only when there are no error diagnostics. */
  readonly manifest?: Manifest;
  readonly diagnostics: Diagnostic[];
}

const whole = (file: string, code: string, message: string): LoadResult => ({
  diagnostics: [{ severity: "error", code, message, path: "", file }],
});

export function loadManifest(file: string): LoadResult {
  let bytes: Buffer;
  try {
    const st = statSync(file);
    if (!st.isFile()) return whole(file, "read", "not a regular file");
    if (st.size > MAX_MANIFEST_BYTES) return whole(file, "too-large", tooLarge(st.size));
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code ?? String(e);
    return whole(file, "read", `cannot read the manifest: ${why}`);
  }
  if (bytes.length > MAX_MANIFEST_BYTES) return whole(file, "too-large", tooLarge(bytes.length));
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // Point at the first bad byte: the replacement character marks it in a lenient decoding.
    const lenient = new TextDecoder("utf-8").decode(bytes);
    const at = lenient.indexOf("\uFFFD");
    return { diagnostics: [{ severity: "error", code: "not-text", message: "not a YAML text file: not valid UTF-8", path: "", file, start: textPosition(lenient, at) }] };
  }
  return parseSource(text, file, sha256(bytes));
}

export function parseManifest(source: string, file: string): LoadResult {
  return parseSource(source, file, sha256(Buffer.from(source, "utf8")));
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function tooLarge(size: number): string {
  return `the file is ${(size / 1048576).toFixed(1)} MiB; a manifest is at most 1 MiB (is this the right file?)`;
}

// YAML forbids these outright; finding one means a binary or mangled file, and the parser's own complaints
// about it would be a screenful of noise.
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

function parseSource(source: string, file: string, digest: string): LoadResult {
  if (source.length > MAX_MANIFEST_BYTES) return whole(file, "too-large", tooLarge(Buffer.byteLength(source)));
  const ctl = CONTROL.exec(source);
  if (ctl) {
    const code = ctl[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    return { diagnostics: [{ severity: "error", code: "not-text", message: `not a YAML text file: control character U+${code} (binary data?)`, path: "", file, start: textPosition(source, ctl.index) }] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: true, uniqueKeys: true, version: "1.2" });
  const src: SourceDoc = { file, doc, lineCounter };
  const yamlDiags = syntaxDiagnostics(doc.errors, doc.warnings, src, source);
  if (yamlDiags.some((d) => d.severity === "error")) return { diagnostics: sortDiagnostics(yamlDiags) };

  const root = doc.contents;
  if (root === null || (!isCollection(root) && (root as { value?: unknown }).value === null))
    return { diagnostics: [{ ...whole(file, "empty", "the manifest is empty; it needs at least `version: 1`").diagnostics[0]!, start: positionAt(lineCounter, 0) }] };
  if (!isMap(root)) {
    const what = isCollection(root) ? "a list" : "a single value";
    return { diagnostics: [diagnosticAt(src, "not-mapping", [], `the manifest must be a mapping (version:, hosts:, syncs:, ...), not ${what}`)] };
  }
  const shape = shapeDiagnostics(src);
  if (shape.length) return { diagnostics: sortDiagnostics([...yamlDiags, ...shape]) };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return whole(file, "yaml", `cannot expand the document: ${e instanceof Error ? e.message : String(e)}`);
  }
  // All errors in one run (issue 19): the rules also check what the schema accepted of a file it rejects.
  const schema = validateSchema(data, src);
  const valid = schema.length ? schemaValidPart(data) : data;
  const rules = valid === undefined ? [] : checkRules(valid as RawManifest, src, definedNames(data));
  const diagnostics = sortDiagnostics([...yamlDiags, ...schema, ...rules]);
  if (diagnostics.some((d) => d.severity === "error")) return { diagnostics };
  return { manifest: normalize(data as RawManifest, file, digest), diagnostics };
}

/** Line/col of an offset in text that never reached the YAML parser. */
function textPosition(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf("\n") + 1;
  return { line: before.split("\n").length, col: offset - lineStart + 1, offset };
}

const YAML_MESSAGES: Partial<Record<string, string>> = {
  TAB_AS_INDENT: "tabs are not allowed as indentation in YAML; indent with spaces",
  MULTIPLE_DOCS: "more than one YAML document (---); a manifest is one document",
};

/**
 * The parser's errors, one line each. After the first syntax error the rest are usually its echoes, so only
 * the first is kept; duplicate keys are independent mistakes and are all kept.
 */
function syntaxDiagnostics(errors: readonly YAMLError[], warnings: readonly YAMLError[], src: SourceDoc, source: string): Diagnostic[] {
  const dups = errors.filter((e) => e.code === "DUPLICATE_KEY");
  const firstOther = errors.find((e) => e.code !== "DUPLICATE_KEY");
  const one = (e: YAMLError, severity: "error" | "warning"): Diagnostic => {
    const own = e.message.replace(/ at line \d+, column \d+:[\s\S]*$/, "").replace(/\n[\s\S]*$/, "");
    const lower = own.charAt(0).toLowerCase() + own.slice(1);
    let message = YAML_MESSAGES[e.code] ?? (severity === "error" ? `invalid YAML: ${lower}` : `${lower} (ignored)`);
    if (e.code === "DUPLICATE_KEY") message = `duplicate key ${keyText(source, e.pos[0])}; each key may appear once`;
    const code = e.code === "DUPLICATE_KEY" ? "duplicate-key" : e.code === "TAB_AS_INDENT" ? "tab" : "yaml";
    return { severity, code, message, path: "", file: src.file, start: positionAt(src.lineCounter, e.pos[0]), end: positionAt(src.lineCounter, e.pos[1]) };
  };
  return [...dups.map((e) => one(e, "error")), ...(firstOther ? [one(firstOther, "error")] : []), ...warnings.map((e) => one(e, "warning"))];
}

function keyText(source: string, offset: number): string {
  const m = /^[^:\n]*/.exec(source.slice(offset))![0].trim();
  return JSON.stringify(m.replace(/^["']|["']$/g, ""));
}

/** Keys must be plain scalars (a list as a key would be stringified), and aliases must resolve. */
function shapeDiagnostics(src: SourceDoc): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (node: { range?: [number, number, number] | null } | null, message: string, code: string) => {
    const r = node?.range;
    out.push({ severity: "error", code, message, path: "", file: src.file, ...(r ? { start: positionAt(src.lineCounter, r[0]), end: positionAt(src.lineCounter, r[1]) } : {}) });
  };
  visit(src.doc, {
    Pair(_, pair) {
      if (isCollection(pair.key)) at(pair.key, "a key must be plain text, not a list or mapping", "bad-key");
      else if (pair.key === null || (pair.key as { value?: unknown }).value === null) at(pair.value as never, "a value without a key", "bad-key");
    },
    Alias(_, alias) {
      if (isAlias(alias) && alias.resolve(src.doc) === undefined) at(alias, `unknown alias *${alias.source}`, "yaml");
    },
  });
  return out;
}
