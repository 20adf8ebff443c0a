// The starter manifest `tsync init` writes: every key a first sync needs, set to its default or to what
// the flags said, each with a comment saying what it does; the optional ones commented out. Pure: the
// caller resolves paths, writes the file and validates the text before writing it.

/** A location as given on the command line, split: `[user@]HOST:/abs/path`, or a local path. */
export interface StarterLocation {
  /** The address or host name to dial; absent: a path on this machine. */
  readonly address?: string;
  readonly user?: string;
  readonly path: string;
}

export interface StarterOptions {
  readonly source?: StarterLocation;
  readonly targets: readonly StarterLocation[];
  /** Absolute path of manifest.schema.json, for the yaml-language-server modeline. */
  readonly schemaPath: string;
  readonly tool: string;
}

/** Placeholders when no --target is given: RFC 5737 documentation addresses, which reach nothing. */
const PLACEHOLDER_TARGETS: readonly StarterLocation[] = [
  { address: "192.0.2.21", path: "/var/www/site" },
  { address: "192.0.2.22", path: "/var/www/site" },
];
const PLACEHOLDER_SOURCE: StarterLocation = { path: "/var/www/site" };

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const IP = /^(\d{1,3}(\.\d{1,3}){3}|.*:.*)$/;

/**
 * Parses `[user@]HOST:/abs/path` (HOST may be `[v6]`) or a local path; undefined with the reason when
 * it is neither. A local path is returned as written: the caller makes it absolute.
 */
export function parseStarterLocation(spec: string): StarterLocation | string {
  if (spec === "") return "an empty location";
  if (spec.startsWith("/") || spec.startsWith("~") || spec.startsWith(".")) return { path: spec };
  let rest = spec;
  let user: string | undefined;
  const at = rest.indexOf("@");
  const colon0 = rest.indexOf(":");
  if (at > 0 && (colon0 === -1 || at < colon0)) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  let address: string;
  let path: string;
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]:");
    if (end === -1) return "expected [IPV6]:/path";
    address = rest.slice(1, end);
    path = rest.slice(end + 2);
  } else {
    const colon = rest.indexOf(":");
    if (colon === -1) return user === undefined ? { path: spec } : "expected USER@HOST:/path";
    address = rest.slice(0, colon);
    path = rest.slice(colon + 1);
  }
  if (address === "" || /\s/.test(address)) return "expected HOST:/path with a host name or address before the colon";
  if (!path.startsWith("/")) return `the path on ${address} must be absolute (HOST:/path), as tsync never guesses the login directory`;
  return { address, ...(user !== undefined ? { user } : {}), path };
}

/** A YAML scalar: plain when it cannot be read as anything else, else JSON-quoted (valid YAML). */
function scalar(s: string): string {
  const plain = /^[A-Za-z0-9_/~.][A-Za-z0-9_/~.@+-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|~|\.?(inf|nan))$/i.test(s) && Number.isNaN(Number(s));
  return plain ? s : JSON.stringify(s);
}

/** Host names for the targets' addresses: the first DNS label when that is a free name, else node-N. */
function hostNames(targets: readonly StarterLocation[], taken: ReadonlySet<string>): Map<string, string> {
  const names = new Map<string, string>();
  const used = new Set(taken);
  const addresses = [...new Set(targets.flatMap((t) => (t.address === undefined ? [] : [`${t.user ?? ""}@${t.address}`])))];
  for (const key of addresses) {
    const address = key.slice(key.indexOf("@") + 1);
    const label = IP.test(address) ? undefined : address.split(".")[0]!;
    let name = label !== undefined && NAME.test(label) && !used.has(label) ? label : undefined;
    for (let n = names.size + 1; name === undefined; n++) if (!used.has(`node-${n}`)) name = `node-${n}`;
    used.add(name);
    names.set(key, name);
  }
  return names;
}

const pad = (s: string, width: number) => (s.length >= width ? s + " " : s.padEnd(width));

/** The manifest text; comments aligned at a column so that it reads as a table. */
export function starterManifest(opts: StarterOptions): string {
  const placeholder = opts.targets.length === 0;
  const targets = placeholder ? PLACEHOLDER_TARGETS : opts.targets;
  const source = opts.source ?? PLACEHOLDER_SOURCE;
  const sourceHost = source.address === undefined ? undefined : { key: `${source.user ?? ""}@${source.address}`, name: "master" };
  const names = hostNames(targets, new Set(sourceHost ? [sourceHost.name] : []));
  const remote = targets.filter((t) => t.address !== undefined);
  const paths = new Set(remote.map((t) => t.path));
  const byRole = remote.length === targets.length && paths.size === 1;
  const C = 40;
  const line = (text: string, comment?: string) => (comment === undefined ? text : pad(text, C) + "# " + comment);

  const hostLine = (name: string, l: StarterLocation, role: string) =>
    `  ${name}: { address: ${scalar(l.address!)}${l.user !== undefined ? `, user: ${scalar(l.user)}` : ""}, roles: [${role}] }`;
  const hosts: string[] = [];
  if (sourceHost) hosts.push(hostLine(sourceHost.name, source, "master"));
  const seen = new Set<string>();
  for (const t of remote) {
    const key = `${t.user ?? ""}@${t.address}`;
    if (seen.has(key)) continue;
    seen.add(key);
    hosts.push(hostLine(names.get(key)!, t, "replica"));
  }
  const loc = (l: StarterLocation, name: string | undefined) => scalar(name === undefined ? l.path : `${name}:${l.path}`);
  const sourceText = loc(source, sourceHost?.name);
  const targetLines = byRole
    ? [line(`    targets: { roles: [replica], path: ${scalar([...paths][0]!)} }`, "every host with role replica, at this path")]
    : ["    targets:", ...targets.map((t) => `      - ${loc(t, t.address === undefined ? undefined : names.get(`${t.user ?? ""}@${t.address}`))}`)];

  return [
    `# tsync manifest, written by \`tsync init\` (${opts.tool}).`,
    "#   tsync validate   checks it (every error, with its line)",
    "#   tsync plan       shows what the first apply would change on every target; changes nothing",
    "#   tsync apply      converges the targets; tsync watch keeps them converged",
    "# Every key is described in the JSON Schema named below (editors with the YAML language server",
    "# complete it) and in docs/SPEC.md. Relative local paths resolve against this file's directory.",
    `# yaml-language-server: $schema=${opts.schemaPath}`,
    "version: 1",
    "",
    "# Connection settings every host inherits unless it sets its own (absent: ~/.ssh/config decides).",
    "defaults:",
    line("  # user: deploy", "absent: ssh config's User, else whoever runs tsync"),
    line("  # identityFile: ~/.ssh/id_ed25519", "absent: ssh-agent, ssh config, ~/.ssh/id_*"),
    line("  # knownHosts: ~/.ssh/known_hosts", "where host keys are checked"),
    line("  hostKeyChecking: strict", "a key must be there already; accept-new trusts a first one"),
    "",
    "settings:",
    line("  maxProcesses: 5", "transfers in flight at once, across all targets"),
    line("  statusFile: /run/tsync/tsync.status", "written by watch, read by `tsync status`"),
    line("  # logFile: /var/log/tsync/tsync.log", "absent: stderr (the journal under systemd)"),
    "",
    "# Every machine tsync talks to, by name; roles select sync targets and nginx upstream members.",
    ...(placeholder ? ["# PLACEHOLDERS: 192.0.2.0/24 is reserved for documentation and reaches nothing; put your nodes here."] : []),
    ...(hosts.length > 0 ? ["hosts:", ...hosts] : [line("hosts: {}", "none yet: every location is on this machine")]),
    "",
    "syncs:",
    "  site:",
    line(`    source: ${sourceText}`, placeholder || opts.source === undefined ? "PLACEHOLDER: the tree to replicate" : "the tree to replicate"),
    ...targetLines,
    line("    exclude: []", 'gitignore patterns: neither copied nor deleted, e.g. [".git/", "*.swp"]'),
    line('    # protect: ["wp-content/uploads/"]', "never deleted on targets (files only the nodes have)"),
    line("    delete: true", "remove from targets what the source no longer has"),
    line("    maxDelete: 25%", "refuse a plan deleting more (an empty or unmounted source)"),
    line("    preserve: [perms, times]", "also: owner, group (root on the target), hardlinks"),
    line("    delay: 1s", "watch: a batch leaves at most this long after its first event"),
    "    audit:",
    line('      quick: "*/5 * * * *"', 'watch: compare listings on this cron schedule; "off": never'),
    line('      # deep: "0 3 * * *"', "watch: also re-hash every file on both sides"),
    line("    onDrift: heal", "heal | report: what watch does about a target changed behind its back"),
    "",
    "# nginx upstreams rendered from the same roles: `tsync nginx` prints the config, `tsync apply` deploys it.",
    "# nginx:",
    line("#   path: /etc/nginx/conf.d/site.conf", "on this machine; `host: NAME` deploys it on that host"),
    "#   upstreams:",
    "#     backend: { roles: [replica] }",
    "#   servers:",
    "#     - names: [www.example.com]",
    '#       locations: { "/": backend }',
    "",
  ].join("\n");
}
