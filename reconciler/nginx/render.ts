// The nginx config as a pure function of the manifest: the same roles that decide where content goes
// decide where traffic goes. Every manifest string that reaches the output is checked against a
// strict grammar first, because nginx has no quoting a YAML author could be trusted to get right:
// a `;`, `{`, `}`, quote or newline in a name would otherwise become a directive of its own.
import { isIPv4, isIPv6 } from "node:net";
import { TsyncError } from "../model/errors.js";
import type { Manifest, NginxSettings, NginxUpstream } from "../model/manifest.js";

/** Names that reach nginx as bare tokens: upstream names (also `proxy_pass http://NAME`), host names in comments. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** A DNS name as an upstream server address (IPs are checked by node:net). */
const DNS_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;
/** server_name: exact, `*.example.com`, `.example.com`, `example.*` and `_`. Regex names are not supported. */
const SERVER_NAME = /^[A-Za-z0-9*_.-]+$/;
/** One token of `listen`: `80`, `127.0.0.1:8080`, `[::]:80`, `default_server`, `backlog=511`. */
const LISTEN_TOKEN = /^[A-Za-z0-9_.:\[\]=*-]+$/;
/**
 * A location pattern: no whitespace, `;`, braces, quotes or `#`. A backslash must escape a character
 * of the same safe set, so a trailing one cannot swallow the space before `{`. `$` stays allowed: it
 * anchors regexes and nginx does not expand variables in location patterns.
 */
const LOCATION_PATTERN = /^[^\s;{}"'#\\]*(\\[^\s;{}"'#][^\s;{}"'#\\]*)*$/;
const LOCATION_MODIFIERS = new Set(["=", "~", "~*", "^~"]);

// The seed's proxy headers, unchanged: backends log the client, not the balancer.
const PROXY_HEADERS = [
  "proxy_set_header Host $host;",
  "proxy_set_header X-Real-IP $remote_addr;",
  "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
];

function refuse(field: string, value: string, rule: string): never {
  throw new TsyncError("nginx-invalid", `${field}: ${JSON.stringify(value)} ${rule}`, "nothing in a manifest may add nginx directives");
}

function checkName(field: string, value: string): string {
  if (!NAME.test(value)) refuse(field, value, "is not a valid name (letters, digits, '_', '.', '-')");
  return value;
}

/** `server` address of an upstream: IPv6 in brackets, `:port` when the upstream sets one. */
function serverAddress(field: string, address: string, port: number | undefined): string {
  let host: string;
  if (isIPv4(address) || DNS_NAME.test(address)) host = address;
  else if (isIPv6(address)) host = `[${address}]`;
  else refuse(field, address, "is not an IP address or DNS name");
  return port === undefined ? host : `${host}:${port}`;
}

function locationMatch(field: string, match: string): string {
  const parts = match.trim().split(/[ \t]+/);
  if (parts.length > 2 || parts[0] === "") refuse(field, match, "must be PATH or MODIFIER PATH");
  const [modifier, pattern] = parts.length === 2 ? [parts[0]!, parts[1]!] : [undefined, parts[0]!];
  if (modifier !== undefined && !LOCATION_MODIFIERS.has(modifier)) refuse(field, match, "has an unknown modifier (=, ~, ~*, ^~)");
  const regex = modifier === "~" || modifier === "~*";
  if (!regex && !pattern.startsWith("/")) refuse(field, match, "must start with '/'");
  if (!LOCATION_PATTERN.test(pattern)) refuse(field, match, "contains a character nginx would read as syntax (space, ';', '{', '}', quote, '#')");
  return modifier === undefined ? pattern : `${modifier} ${pattern}`;
}

function listenValue(field: string, listen: string | number): string {
  const tokens = String(listen).trim().split(/[ \t]+/);
  for (const t of tokens) if (!LISTEN_TOKEN.test(t)) refuse(field, String(listen), "is not a listen address/port with flags");
  return tokens.join(" ");
}

/** A comment cannot end before its line does; only line breaks (and other controls) are dangerous. */
function commentText(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, "?");
}

function renderUpstream(manifest: Manifest, up: NginxUpstream, index: number, down: ReadonlySet<string>, warnings: string[]): string[] {
  const field = `nginx.upstreams.${up.name}`;
  const name = checkName(`nginx.upstreams[${index}]`, up.name);
  if (up.port !== undefined && !(Number.isInteger(up.port) && up.port >= 1 && up.port <= 65535)) refuse(`${field}.port`, String(up.port), "is not a port (1-65535)");
  if (up.hosts.length === 0) throw new TsyncError("nginx-invalid", `${field}: no host has any of the roles ${up.roles.join(", ")}`);
  // Mirrors downHosts(): an upstream with every server down takes the site down, so the first stays.
  const allDown = up.hosts.every((h) => down.has(h));
  if (allDown) warnings.push(`upstream ${name}: every server is marked down; keeping ${up.hosts[0]} in rotation`);
  const lines = [`upstream ${name} {`];
  up.hosts.forEach((hostName, i) => {
    const hostField = `${field}.hosts[${i}]`;
    checkName(hostField, hostName);
    const host = manifest.hosts.get(hostName);
    if (host === undefined) throw new TsyncError("nginx-invalid", `${hostField}: unknown host ${JSON.stringify(hostName)}`);
    // How SSH reaches a host (an alias, a tunnel) is not where web traffic goes: `web` says that.
    const addr = host.web !== undefined ? serverAddress(`hosts.${hostName}.web`, host.web, up.port) : serverAddress(`hosts.${hostName}.address`, host.address, up.port);
    const isDown = down.has(hostName) && !(allDown && i === 0);
    lines.push(isDown ? `  server ${addr} down;  # ${hostName} (out of rotation: drifted: down)` : `  server ${addr};  # ${hostName}`);
  });
  lines.push("}");
  return lines;
}

function renderServers(nginx: NginxSettings, known: ReadonlySet<string>, used: Set<string>): string[] {
  const out: string[] = [];
  nginx.servers.forEach((srv, si) => {
    const field = `nginx.servers[${si}]`;
    if (srv.names.length === 0) throw new TsyncError("nginx-invalid", `${field}.names: at least one server name is needed`);
    const names = srv.names.map((n, i) => {
      if (!SERVER_NAME.test(n)) refuse(`${field}.names[${i}]`, n, "is not a server name (letters, digits, '.', '-', '*', '_')");
      return n;
    });
    out.push("", "server {", `  listen ${listenValue(`${field}.listen`, srv.listen)};`, `  server_name ${names.join(" ")};`);
    srv.locations.forEach((loc) => {
      const locField = `${field}.locations[${JSON.stringify(loc.match)}]`;
      const match = locationMatch(locField, loc.match);
      if (!known.has(loc.upstream)) throw new TsyncError("nginx-invalid", `${locField}: unknown upstream ${JSON.stringify(loc.upstream)}`);
      used.add(loc.upstream);
      out.push("", `  location ${match} {`, ...PROXY_HEADERS.map((h) => `    ${h}`), `    proxy_pass http://${loc.upstream};`, "  }");
    });
    out.push("}");
  });
  return out;
}

/**
 * The whole config file for `nginx.path` (http context: an include such as conf.d/site.conf).
 * `down`: host names rendered `down` (see routing.ts). Throws TsyncError naming the manifest field
 * for anything that cannot be rendered safely.
 */
export function renderNginx(manifest: Manifest, down: ReadonlySet<string> = new Set()): { text: string; warnings: string[] } {
  const nginx = manifest.nginx;
  if (nginx === undefined) throw new TsyncError("nginx-missing", `${manifest.file}: the manifest has no nginx section`);
  const warnings: string[] = [];
  const known = new Set<string>();
  const lines = [
    `# Generated by tsync from ${commentText(manifest.file)}. Do not edit: tsync apply overwrites this file.`,
    "# Upstream servers are the hosts having the upstream's roles (manifest order).",
  ];
  nginx.upstreams.forEach((up, i) => {
    if (known.has(up.name)) throw new TsyncError("nginx-invalid", `nginx.upstreams.${up.name}: declared twice`);
    known.add(up.name);
    lines.push("", ...renderUpstream(manifest, up, i, down, warnings));
  });
  const used = new Set<string>();
  lines.push(...renderServers(nginx, known, used));
  for (const up of nginx.upstreams) if (!used.has(up.name)) warnings.push(`upstream ${up.name}: no location uses it`);
  return { text: lines.join("\n") + "\n", warnings };
}
