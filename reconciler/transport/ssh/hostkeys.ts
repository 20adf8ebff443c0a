// known_hosts as OpenSSH reads it: plain and hashed (|1|salt|hash) host patterns, [host]:port,
// comma lists, wildcards and negations, @revoked and @cert-authority markers. A changed key is refused
// in every mode; accept-new only ever adds a key for a host the file does not know at all.
import { createHash, createHmac } from "node:crypto";
import { appendFileSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";

export type HostKeyMode = "strict" | "accept-new";

export interface KnownHostLine {
  readonly line: number;
  readonly marker?: "revoked" | "cert-authority";
  /** Raw pattern field: "a,b,[c]:2222" or "|1|salt|hash". */
  readonly patterns: string;
  readonly keyType: string;
  readonly keyBlob: Buffer;
}

export type HostKeyVerdict =
  | { readonly ok: true; readonly added?: boolean }
  | {
      readonly ok: false;
      readonly reason: "unknown" | "changed" | "revoked";
      /** Fingerprints of the keys known for this host (changed), comma-separated. */
      readonly expected?: string;
      readonly offered: string;
      /** known_hosts line of the first known key (changed) or of the @revoked entry. */
      readonly line?: number;
    };

/** OpenSSH's fingerprint format: `SHA256:` + unpadded base64 of the key blob's SHA-256. */
export function fingerprint(keyBlob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "");
}

/** The key type named inside an SSH public key blob (its first length-prefixed string). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return "";
  const n = keyBlob.readUInt32BE(0);
  return n > 0 && 4 + n <= keyBlob.length ? keyBlob.toString("latin1", 4, 4 + n) : "";
}

/** The name OpenSSH looks a host up by: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostLine[] {
  const out: KnownHostLine[] = [];
  const lines = text.split("\n");
  for (const [i, raw] of lines.entries()) {
    const fields = raw.trim().split(/[ \t]+/);
    if (fields[0] === undefined || fields[0] === "" || fields[0].startsWith("#")) continue;
    let marker: KnownHostLine["marker"];
    if (fields[0].startsWith("@")) {
      const m = fields.shift()!;
      if (m === "@revoked") marker = "revoked";
      else if (m === "@cert-authority") marker = "cert-authority";
      else continue; // an unknown marker: OpenSSH skips the line too
    }
    const [patterns, keyType, b64] = fields;
    if (patterns === undefined || keyType === undefined || b64 === undefined) continue;
    const keyBlob = Buffer.from(b64, "base64");
    if (keyBlob.length === 0 || keyTypeOf(keyBlob) !== keyType) continue;
    out.push({ line: i + 1, ...(marker ? { marker } : {}), patterns, keyType, keyBlob });
  }
  return out;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}

function matchesHashed(pattern: string, name: string): boolean {
  const parts = pattern.split("|"); // ["", "1", salt, hash]
  if (parts.length !== 4 || parts[1] !== "1") return false;
  const salt = Buffer.from(parts[2]!, "base64");
  const want = Buffer.from(parts[3]!, "base64");
  const got = createHmac("sha1", salt).update(name).digest();
  return got.length === want.length && got.equals(want);
}

/** Whether a line's pattern field names `name` (negations win, as in OpenSSH's match_hostname). */
export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith("|")) return matchesHashed(patterns, name);
  let matched = false;
  for (const p of patterns.split(",")) {
    const negated = p.startsWith("!");
    const glob = negated ? p.slice(1) : p;
    if (!globToRegExp(glob).test(name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** Pure verdict over parsed lines; `verifyHostKey` adds the file IO and accept-new. */
export function judgeHostKey(lines: readonly KnownHostLine[], host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const offered = fingerprint(keyBlob);
  const revoked = lines.find((l) => l.marker === "revoked" && l.keyBlob.equals(keyBlob));
  if (revoked) return { ok: false, reason: "revoked", offered, line: revoked.line };
  const name = knownHostName(host, port);
  // Certificates are not offered by ssh2, so @cert-authority lines cannot vouch for a plain key.
  const known = lines.filter((l) => l.marker === undefined && patternsMatch(l.patterns, name));
  if (known.some((l) => l.keyBlob.equals(keyBlob))) return { ok: true };
  if (known.length === 0) return { ok: false, reason: "unknown", offered };
  // Known under another key (of this or another type): the connection prefers the known types, so a
  // different one means the server no longer has the key we trust.
  const expected = [...new Set(known.map((l) => fingerprint(l.keyBlob)))].join(", ");
  return { ok: false, reason: "changed", expected, offered, line: known[0]!.line };
}

/** Key types known for this host, for ordering the host key algorithms we offer. */
export function knownKeyTypes(lines: readonly KnownHostLine[], host: string, port: number): string[] {
  const name = knownHostName(host, port);
  return [...new Set(lines.filter((l) => l.marker === undefined && patternsMatch(l.patterns, name)).map((l) => l.keyType))];
}

export function readKnownHosts(path: string): KnownHostLine[] {
  try {
    return parseKnownHosts(readFileSync(path, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

export function verifyHostKey(knownHostsPath: string, host: string, port: number, keyBlob: Buffer, mode: HostKeyMode): HostKeyVerdict {
  const verdict = judgeHostKey(readKnownHosts(knownHostsPath), host, port, keyBlob);
  if (verdict.ok || verdict.reason !== "unknown" || mode !== "accept-new") return verdict;
  appendKnownHost(knownHostsPath, host, port, keyBlob);
  return { ok: true, added: true };
}

export function appendKnownHost(path: string, host: string, port: number, keyBlob: Buffer): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let prefix = "";
  try {
    const size = statSync(path).size;
    if (size > 0 && !readFileSync(path).subarray(size - 1).equals(Buffer.from("\n"))) prefix = "\n";
  } catch {
    // a new file
  }
  const line = `${prefix}${knownHostName(host, port)} ${keyTypeOf(keyBlob)} ${keyBlob.toString("base64")}\n`;
  appendFileSync(path, line, { mode: 0o600 });
}
