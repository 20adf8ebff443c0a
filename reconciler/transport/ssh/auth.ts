// Who we log in as and how a failed login reads: auth methods from the Host (identityFile, else agent
// and ~/.ssh/id_*), and one-line TransportError/HostKeyError messages naming host and address.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { HostKeyError, TransportError, errorMessage } from "../../model/errors.js";
import type { Host } from "../../model/manifest.js";
import type { HostKeyVerdict } from "./hostkeys.js";

export function hostLabel(host: Host): string {
  return `${host.name} (${host.address}:${host.port})`;
}

export function fail(host: Host, code: string, detail: string, hint?: string, Cls: typeof TransportError = TransportError): TransportError {
  const e = new Cls(host.name, code, detail, hint);
  // `host` stays the manifest name for callers; the message also shows where that is.
  e.message = `${hostLabel(host)}: ${detail}`;
  return e;
}

export interface Auth {
  readonly methods: object[];
  readonly describe: string;
}

export function authMethods(host: Host): Auth | TransportError {
  const username = host.user;
  if (host.identityFile !== undefined) {
    try {
      return { methods: [{ type: "publickey", username, key: readFileSync(host.identityFile) }], describe: `key ${host.identityFile}` };
    } catch (err) {
      return fail(host, "ssh-auth", `cannot read identity file ${host.identityFile}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    }
  }
  const methods: object[] = [];
  const tried: string[] = [];
  const agent = process.env.SSH_AUTH_SOCK;
  if (agent) {
    methods.push({ type: "agent", username, agent });
    tried.push("ssh-agent");
  }
  for (const name of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
    const p = join(homedir(), ".ssh", name);
    if (!existsSync(p)) continue;
    try {
      methods.push({ type: "publickey", username, key: readFileSync(p) });
      tried.push(p);
    } catch {
      // unreadable default key: skipped like OpenSSH does
    }
  }
  if (methods.length === 0) return fail(host, "ssh-auth", "no identityFile, no ssh-agent (SSH_AUTH_SOCK) and no ~/.ssh/id_* key to log in with");
  return { methods, describe: tried.length === 1 ? `key ${tried[0]}` : tried.join(", ") };
}

export function hostKeyFailure(host: Host, v: Extract<HostKeyVerdict, { ok: false }>): TransportError {
  const where = `${host.knownHosts}${v.line ? `:${v.line}` : ""}`;
  const name = host.port === 22 ? host.address : `[${host.address}]:${host.port}`;
  if (v.reason === "changed")
    return fail(host, "ssh-hostkey-changed", `host key changed: expected ${v.expected}, offered ${v.offered} — if this is expected, remove the old key from ${where}`, `ssh-keygen -R '${name}' -f ${host.knownHosts}`, HostKeyError);
  if (v.reason === "revoked") return fail(host, "ssh-hostkey-revoked", `host key ${v.offered} is marked @revoked in ${where}`, undefined, HostKeyError);
  return fail(host, "ssh-hostkey-unknown", `host key unknown (offered ${v.offered}) and hostKeyChecking is strict — verify it and add it to ${host.knownHosts}, or use hostKeyChecking: accept-new`, undefined, HostKeyError);
}

export function connectFailure(host: Host, err: unknown, auth: Auth, readyTimeoutMs: number): TransportError {
  const e = err as { code?: string; level?: string };
  const msg = errorMessage(err);
  switch (e.code) {
    case "ECONNREFUSED": return fail(host, "ssh-refused", "connection refused");
    case "EHOSTUNREACH": case "ENETUNREACH": return fail(host, "ssh-unreachable", "host unreachable");
    case "ENOTFOUND": case "EAI_AGAIN": return fail(host, "ssh-unreachable", `cannot resolve ${host.address}`);
    case "ECONNRESET": return fail(host, "ssh-closed", "connection reset during the SSH handshake");
  }
  if (e.level === "client-authentication") return fail(host, "ssh-auth", `authentication failed for user ${host.user} (${auth.describe})`);
  if (e.level === "client-timeout" || e.code === "ETIMEDOUT" || /timed out/i.test(msg)) return fail(host, "ssh-timeout", `timed out (no SSH handshake within ${readyTimeoutMs / 1000} s)`);
  return fail(host, "ssh-connect", msg.split("\n")[0]!);
}
