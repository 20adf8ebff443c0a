// Escaping for the machine reports, on top of the terminal escaping of model/text.ts (the one
// definition of what is unsafe: C0/C1 controls, bidi overrides, zero-width characters, the
// XML-forbidden U+FFFE/U+FFFF, all shown as `\u{…}`): XML and Markdown/HTML metacharacters.
import { escapeLines, escapeText, visible } from "../model/text.js";

/** XML 1.0 character data. CR is kept as a reference because parsers normalize a literal one away. */
export function xmlText(s: string): string {
  return visible(s).replace(/[&<>\r]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;" })[c]!);
}

/** XML attribute value (double-quoted); whitespace as references so attribute normalization keeps it. */
export function xmlAttr(s: string): string {
  return visible(s).replace(/[&<>"'\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** HTML text inside a Markdown document (e.g. <summary>): entities, and no raw newlines. */
export function htmlText(s: string): string {
  return escapeText(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** A GFM table cell: `|` and inline markup escaped, HTML neutralized, one line. */
export function mdCell(s: string): string {
  return htmlText(s).replace(/[\\`*_[\]|~]/g, (c) => "\\" + c);
}

/** A fenced block whose fence no backtick run in `body` can close. */
export function fenced(body: string, info = ""): string {
  let longest = 0;
  for (const m of body.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  const fence = "`".repeat(Math.max(3, longest + 1));
  const text = escapeLines(body);
  return `${fence}${info}\n${text}${text.endsWith("\n") || text === "" ? "" : "\n"}${fence}`;
}
