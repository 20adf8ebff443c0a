// Who we log in as and how a failed login reads. Keys as OpenSSH offers them: the agent's identities
// (those matching the named key files first; only those with IdentitiesOnly), then the key files the
// agent does not hold. A key file that cannot be used says why (mode, passphrase, not a private key)
// instead of ending as "authentication failed".
import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { ParsedKey } from "ssh2";
import { HostKeyError, TransportError, errorMessage } from "../../model/errors.js";
import type { Endpoint } from "./config.js";
import type { HostKeyVerdict } from "./hostkeys.js";
import { ssh2 } from "./ssh2-lib.js";

/** `www-01 (10.0.1.21:22)`, or with an ssh config alias `www-01 (web1 → 10.0.1.21:22)`. */
export function hostLabel(ep: Endpoint): string {
  const via = ep.alias !== ep.hostname ? `${ep.alias} → ` : "";
  return `${ep.name} (${via}${ep.hostname}:${ep.port})`;
}

export function fail(ep: Endpoint, code: string, detail: string, hint?: string, Cls: typeof TransportError = TransportError): TransportError {
  const e = new Cls(ep.name, code, detail, hint);
  // `host` stays the manifest name for callers; the message also shows where that is.
  e.message = `${hostLabel(ep)}: ${detail}`;
  return e;
}

export interface Auth {
  readonly methods: object[];
  readonly describe: string;
}

export type KeyFile =
  | { readonly kind: "key"; readonly path: string; readonly data: Buffer; readonly passphrase?: string; readonly pub: Buffer }
  /** Passphrase-protected and no passphrase given: usable only through an agent holding `pub`. */
  | { readonly kind: "encrypted"; readonly path: string; readonly pub?: Buffer }
  | { readonly kind: "problem"; readonly path: string; readonly missing: boolean; readonly problem: string };

const PUBLIC_KEY_LINE = /^\s*(ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+\s+AAAA/;

/** The public blob stored unencrypted in an openssh-key-v1 file's header (encrypted or not). */
function opensshPublicBlob(text: string): Buffer | undefined {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!m) return undefined;
  const b = Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
  const magic = Buffer.from("openssh-key-v1\0", "latin1");
  if (!b.subarray(0, magic.length).equals(magic)) return undefined;
  let off = magic.length;
  const str = (): Buffer | undefined => {
    if (off + 4 > b.length) return undefined;
    const n = b.readUInt32BE(off);
    off += 4;
    if (off + n > b.length) return undefined;
    const s = b.subarray(off, off + n);
    off += n;
    return s;
  };
  for (let i = 0; i < 3; i++) if (str() === undefined) return undefined; // cipher, kdf, kdf options
  if (off + 4 > b.length || b.readUInt32BE(off) < 1) return undefined;
  off += 4;
  return str();
}

function publicBlobBeside(path: string): Buffer | undefined {
  try {
    const f = readFileSync(`${path}.pub`, "utf8").trim().split(/\s+/);
    return f[1] !== undefined ? Buffer.from(f[1], "base64") : undefined;
  } catch {
    return undefined;
  }
}

/** What `path` holds as an identity, as OpenSSH would judge it (it refuses keys others can read). */
export function readKeyFile(path: string, passphrase?: string): KeyFile {
  let data: Buffer;
  try {
    const st = statSync(path);
    if (st.isDirectory()) return { kind: "problem", path, missing: false, problem: `identity file ${path} is a directory` };
    // OpenSSH's sshkey_perm_ok: a key of ours that group or others may access is refused outright.
    if (st.uid === process.getuid?.() && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
      return { kind: "problem", path, missing: false, problem: `identity file ${path} has mode ${mode}: a private key must not be accessible by group or others (OpenSSH refuses it too); chmod 600 ${path}` };
    }
    data = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { kind: "problem", path, missing: code === "ENOENT", problem: `cannot read identity file ${path}: ${code ?? errorMessage(err)}` };
  }
  const text = data.toString("latin1");
  const parsed = ssh2().utils.parseKey(data, passphrase);
  if (parsed instanceof Error) {
    if (/no passphrase given/i.test(parsed.message)) {
      const pub = opensshPublicBlob(text) ?? publicBlobBeside(path);
      return { kind: "encrypted", path, ...(pub ? { pub } : {}) };
    }
    if (/bad passphrase|integrity check failed|bad decrypt/i.test(parsed.message))
      return { kind: "problem", path, missing: false, problem: `identity file ${path}: the passphrase given does not decrypt it` };
    if (PUBLIC_KEY_LINE.test(text)) return publicKeyProblem(path);
    return { kind: "problem", path, missing: false, problem: `identity file ${path} is not a private key in a format ssh can read (OpenSSH, PEM or PuTTY)` };
  }
  const key: ParsedKey = Array.isArray(parsed) ? parsed[0]! : parsed;
  if (!key.isPrivateKey()) return publicKeyProblem(path);
  return { kind: "key", path, data, ...(passphrase !== undefined ? { passphrase } : {}), pub: key.getPublicSSH() };
}

function publicKeyProblem(path: string): KeyFile {
  const priv = path.endsWith(".pub") ? path.slice(0, -4) : undefined;
  return { kind: "problem", path, missing: false, problem: `identity file ${path} is a public key; identityFile names the private key${priv ? ` (${priv})` : ""}` };
}

interface AgentKey {
  getPublicSSH(): Buffer;
}

async function agentKeys(sock: string): Promise<AgentKey[] | Error> {
  return await new Promise((resolve) => new (ssh2().OpenSSHAgent)(sock).getIdentities((err, keys) => resolve(err ?? (keys as AgentKey[] | undefined) ?? [])));
}

type Order = (keys: AgentKey[]) => AgentKey[];
type Agent = InstanceType<ReturnType<typeof ssh2>["OpenSSHAgent"]>;
let OrderedAgent: (new (sock: string, order: Order) => Agent) | undefined;

/** The agent, offering the identities we want first (or only them): ssh2 tries its keys in the order given. */
function orderedAgent(sock: string, order: Order): Agent {
  OrderedAgent ??= class extends ssh2().OpenSSHAgent {
    constructor(sock: string, private readonly order: Order) {
      super(sock);
    }
    override getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
      super.getIdentities((err, keys) => (err ? cb(err) : cb(undefined, this.order((keys ?? []) as AgentKey[]) as ParsedKey[])));
    }
  };
  return new OrderedAgent(sock, order);
}

const DEFAULT_KEYS = ["id_ed25519", "id_ecdsa", "id_rsa"];

export async function authMethods(ep: Endpoint): Promise<Auth | TransportError> {
  const username = ep.user;
  const named = ep.identityFiles.length > 0;
  const passphrase = ep.passphraseEnv !== undefined ? process.env[ep.passphraseEnv] : undefined;
  const sock = process.env.SSH_AUTH_SOCK;
  const held = sock ? await agentKeys(sock) : new Error("SSH_AUTH_SOCK is not set");
  const agentHolds = (pub: Buffer | undefined) => pub !== undefined && !(held instanceof Error) && held.some((k) => k.getPublicSSH().equals(pub));

  const wanted: Buffer[] = [];
  const fileMethods: object[] = [];
  const tried: string[] = [];
  const skipped: string[] = [];
  for (const path of named ? ep.identityFiles : DEFAULT_KEYS.map((n) => join(homedir(), ".ssh", n))) {
    const k = readKeyFile(path, passphrase);
    if (k.kind === "problem") {
      // OpenSSH skips a missing default or ssh-config key quietly; a key the manifest names must work.
      if (k.missing && !ep.identityFromManifest) continue;
      if (named) return fail(ep, "ssh-key", k.problem);
      skipped.push(k.problem);
      continue;
    }
    if (k.pub !== undefined) wanted.push(k.pub);
    if (k.kind === "encrypted") {
      if (agentHolds(k.pub)) continue;
      const how = ep.passphraseEnv === undefined
        ? `load it into ssh-agent (ssh-add ${path}) or name a variable holding its passphrase in passphraseEnv`
        : `$${ep.passphraseEnv} is not set; set it, or load the key into ssh-agent (ssh-add ${path})`;
      const problem = `identity file ${path} is passphrase-protected and ssh-agent does not hold it: ${how}`;
      if (named) return fail(ep, "ssh-key", problem);
      skipped.push(problem);
      continue;
    }
    if (agentHolds(k.pub)) continue; // the agent signs with it; no need to offer the file too
    fileMethods.push({ type: "publickey", username, key: k.data, ...(k.passphrase !== undefined ? { passphrase: k.passphrase } : {}) });
    tried.push(`key ${path}`);
  }

  const methods: object[] = [];
  if (sock && !(held instanceof Error) && held.length > 0) {
    const isWanted = (k: AgentKey) => wanted.some((w) => w.equals(k.getPublicSSH()));
    const only = ep.identitiesOnly && named;
    const offered = only ? held.filter(isWanted).length : held.length;
    if (offered > 0) {
      methods.push({ type: "agent", username, agent: orderedAgent(sock, (keys) => (only ? keys.filter(isWanted) : [...keys.filter(isWanted), ...keys.filter((k) => !isWanted(k))])) });
      tried.unshift(`ssh-agent (${offered} key${offered === 1 ? "" : "s"})`);
    }
  }
  methods.push(...fileMethods);
  const notes = skipped.length > 0 ? `; skipped: ${skipped.join("; ")}` : "";
  if (methods.length === 0) {
    const agent = held instanceof Error ? `no ssh-agent (${sock ? errorMessage(held) : "SSH_AUTH_SOCK is not set"})` : "an ssh-agent holding no usable key";
    return fail(ep, "ssh-auth", `no key to log in with: ${named ? "" : "no identityFile, "}${agent} and no usable ~/.ssh/id_* key${notes}`);
  }
  return { methods, describe: tried.join(", ") + notes };
}

export function hostKeyFailure(ep: Endpoint, v: Extract<HostKeyVerdict, { ok: false }>): TransportError {
  const where = `${ep.knownHosts}${v.line ? `:${v.line}` : ""}`;
  const name = ep.port === 22 ? ep.hostname : `[${ep.hostname}]:${ep.port}`;
  if (v.reason === "changed")
    return fail(ep, "ssh-hostkey-changed", `host key changed: expected ${v.expected}, offered ${v.offered} — if this is expected, remove the old key from ${where}`, `ssh-keygen -R '${name}' -f ${ep.knownHosts}`, HostKeyError);
  if (v.reason === "revoked") return fail(ep, "ssh-hostkey-revoked", `host key ${v.offered} is marked @revoked in ${where}`, undefined, HostKeyError);
  return fail(ep, "ssh-hostkey-unknown", `host key unknown (offered ${v.offered}) and hostKeyChecking is strict — verify it and add it to ${ep.knownHosts}, or use hostKeyChecking: accept-new`, undefined, HostKeyError);
}

export function connectFailure(ep: Endpoint, err: unknown, auth: Auth, readyTimeoutMs: number): TransportError {
  const e = err as { code?: string; level?: string };
  const msg = errorMessage(err);
  switch (e.code) {
    case "ECONNREFUSED": return fail(ep, "ssh-refused", "connection refused");
    case "EHOSTUNREACH": case "ENETUNREACH": return fail(ep, "ssh-unreachable", "host unreachable");
    case "ENOTFOUND": case "EAI_AGAIN": return fail(ep, "ssh-unreachable", `cannot resolve ${ep.hostname}${ep.hostname === ep.alias ? " (nor is it a Host alias of the ssh config read)" : ""}`);
    case "ECONNRESET": return fail(ep, "ssh-closed", "connection closed during the SSH handshake");
  }
  // node-ssh's word for a connection closed before "ready" that ssh2 reported no error for: the server hung up.
  if (msg === "No response from server") return fail(ep, "ssh-closed", "connection closed during the SSH handshake");
  if (e.level === "client-authentication") return fail(ep, "ssh-auth", `authentication failed for user ${ep.user} (${auth.describe})`);
  if (e.level === "client-timeout" || e.code === "ETIMEDOUT" || /timed out/i.test(msg)) return fail(ep, "ssh-timeout", `timed out (no SSH handshake within ${readyTimeoutMs / 1000} s)`);
  return fail(ep, "ssh-connect", msg.split("\n")[0]!);
}
