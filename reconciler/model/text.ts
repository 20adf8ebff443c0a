// The one escaping of text that came from a target or the source (file names, file content, remote
// stderr, nginx output) before a human reads it. Such text can hold terminal control sequences (ESC,
// the C1 CSI U+009B: set the title, clear the screen, forge lines), bidi overrides that reorder what a
// reviewer reads, and invisible characters; all become visible `\u{hex}` text. JSON output keeps the
// exact bytes instead (pathBase64); Markdown and JUnit build on `visible` (views/escape.ts).

// C0 controls but tab/newline/CR, DEL, C1 controls, soft hyphen, bidi marks, overrides and isolates
// (U+202A–U+202E, U+2066–U+2069), zero-width and invisible characters, noncharacters, lone surrogates.
const UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const hex = (ch: string) => `\\u{${ch.charCodeAt(0).toString(16)}}`;

/** Makes every unsafe code point visible as `\u{hex}`; tab, newline and CR are left to the caller. */
export function visible(s: string): string {
  return s.replace(UNSAFE, hex);
}

/** Whether `s` holds anything `visible` would escape. */
export function hasUnsafe(s: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(s);
  UNSAFE.lastIndex = 0;
  return found;
}

/** One line for a terminal: also CR, newline and tab escaped (`\r`, `\n`, `\t`), so it cannot forge lines. */
export function escapeText(s: string): string {
  return visible(s).replace(/[\t\n\r]/g, (c) => (c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
}

/** Several lines whose line structure is ours (a diff, a command's output): newlines and tabs kept, CR escaped. */
export function escapeLines(s: string): string {
  return visible(s).replace(/\r/g, "\\r");
}
