// Escaping for the machine reports. Names reach here already through displayPath (control bytes and
// invalid UTF-8 escaped), but displayPath lets through characters that are valid UTF-8 yet unsafe in a
// report: C1 controls (U+009B is a terminal CSI), bidi overrides that reorder what a reviewer reads,
// zero-width characters, and the XML-forbidden U+FFFE/U+FFFF. Those become visible `\u{…}` text.

// Invisible or reordering code points, C1 controls, noncharacters and lone surrogates.
const UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Makes every unsafe code point visible as `\u{hex}`; tab, newline and CR are left to the caller. */
export function visible(s: string): string {
  return s.replace(UNSAFE, (ch) => `\\u{${ch.charCodeAt(0).toString(16)}}`);
}

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
  return visible(s)
    .replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!)
    .replace(/[\t\n\r]/g, (c) => (c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
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
  const text = body.split("\n").map((l) => visible(l).replace(/\r/g, "\\r")).join("\n");
  return `${fence}${info}\n${text}${text.endsWith("\n") || text === "" ? "" : "\n"}${fence}`;
}
