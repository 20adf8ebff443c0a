// The resolved manifest: what every stage after loading consumes. Defaults are merged, `~` expanded,
// roles expanded into concrete targets. Nothing downstream re-reads YAML.

export type HostKeyChecking = "strict" | "accept-new";

export interface Host {
  readonly name: string;
  /** As written: an IP, a hostname, or an alias of the OpenSSH client config. */
  readonly address: string;
  // port, user, identityFile and knownHosts are what the manifest (host, else defaults) says; absent:
  // the OpenSSH client config decides, else OpenSSH's own default (22, the local user, ~/.ssh/known_hosts).
  readonly port?: number;
  readonly user?: string;
  /** Absolute path; absent: ssh config IdentityFile, else ssh-agent (SSH_AUTH_SOCK) and ~/.ssh/id_*. */
  readonly identityFile?: string;
  /** Absolute path of the known_hosts file used to verify this host. */
  readonly knownHosts?: string;
  readonly hostKeyChecking: HostKeyChecking;
  readonly roles: readonly string[];
  /** OpenSSH client config files read for this host, first match wins; absent or empty: none. */
  readonly sshConfig?: readonly string[];
  /** Jump hosts, first is dialled directly; [] = none even if ssh config names a ProxyJump; absent: ssh config decides. */
  readonly proxyJump?: readonly Host[];
  /** Environment variable holding the passphrase of an encrypted identityFile. */
  readonly passphraseEnv?: string;
  /** Remote commands run under `sudo -n` (as root, never prompting). */
  readonly sudo?: boolean;
  /** Where nginx upstreams send this host's traffic; absent: address. */
  readonly web?: string;
}

/** A tree root: on a named host (over SSH), or on the machine running tsync when `host` is absent. */
export interface Location {
  readonly host?: string;
  /**
   * Absolute, normalized (no trailing slash except "/"); on a host also "~/DIR", below the login
   * directory, which the SSH transport resolves when it connects (SPEC §6).
   */
  readonly path: string;
}

export type Limit = { readonly kind: "count"; readonly value: number } | { readonly kind: "percent"; readonly value: number };

export interface Preserve {
  readonly perms: boolean;
  readonly times: boolean;
  readonly owner: boolean;
  readonly group: boolean;
  /** Names sharing an inode on the source are hard-linked on the target (rsync -H); absent: copies. */
  readonly hardlinks?: boolean;
}

/** The rules the pure planner compares under. */
export interface SyncRules {
  /** gitignore patterns, relative to the source root. */
  readonly exclude: readonly string[];
  readonly delete: boolean;
  /** gitignore patterns of target paths never deleted nor replaced by another kind; absent: none. */
  readonly protect?: readonly string[];
  readonly maxDelete?: Limit;
  readonly preserve: Preserve;
  /** false: the root's own mode, owner and times are left alone (rsync --omit-dir-times for "."); absent: true. */
  readonly rootMetadata?: false;
}

/** A command run on a target after a batch that touched a matching path landed there (SPEC §6). */
export interface ChangeHook {
  /** A sh command line, run on the target's host with cwd = the target root. */
  readonly run: string;
  /** gitignore patterns a changed path must match; absent: any change. */
  readonly paths?: readonly string[];
  readonly timeoutMs: number;
}

export interface Sync {
  readonly name: string;
  readonly source: Location;
  readonly targets: readonly Location[];
  readonly rules: SyncRules;
  readonly delayMs: number;
  readonly audit: { readonly quick?: string; readonly deep?: string };
  readonly onDrift: "heal" | "report";
  /** false: a target root that is a symlink is refused; absent: resolved once per plan/apply and synced into. */
  readonly followRoot?: false;
  /** Everything written on targets gets this owner and/or group (names resolved on each target). */
  readonly chown?: { readonly user?: string; readonly group?: string };
  /** In manifest order; absent or empty: none. */
  readonly onChange?: readonly ChangeHook[];
}

export interface NginxLocation {
  /** The nginx location match as written, e.g. "/" or "~ /wp-admin/". */
  readonly match: string;
  readonly upstream: string;
}

export interface NginxServer {
  readonly names: readonly string[];
  readonly listen: string;
  readonly locations: readonly NginxLocation[];
}

export interface NginxUpstream {
  readonly name: string;
  readonly roles: readonly string[];
  /** Host names having one of `roles`, in manifest order. */
  readonly hosts: readonly string[];
  /** Port of every server of this upstream; absent: nginx's default (80). */
  readonly port?: number;
}

export interface NginxSettings {
  /** Absent: the local machine. */
  readonly host?: string;
  readonly path: string;
  readonly test: string;
  readonly reload: string;
  readonly upstreams: readonly NginxUpstream[];
  readonly servers: readonly NginxServer[];
  readonly drifted: "keep" | "down";
}

export interface Settings {
  readonly maxProcesses: number;
  readonly statusFile?: string;
  readonly logFile?: string;
  /** Where `tsync watch` serves /metrics and /healthz; absent: off. */
  readonly metrics?: { readonly host: string; readonly port: number };
  /** Directory of the source hash cache (scan/hash-cache.ts), false for none; absent: the default (defaultHashCacheDir). */
  readonly hashCache?: string | false;
}

export interface Manifest {
  /** The file it was loaded from, as given. */
  readonly file: string;
  /** sha256 hex of the manifest file's bytes: a saved plan is refused when it changes. */
  readonly digest: string;
  readonly settings: Settings;
  /** In manifest order. */
  readonly hosts: ReadonlyMap<string, Host>;
  /** In manifest order. */
  readonly syncs: readonly Sync[];
  readonly nginx?: NginxSettings;
}

/** "www-01:/var/www/site" or "/var/www/site": how a location is shown to users. */
export function formatLocation(loc: Location): string {
  return loc.host === undefined ? loc.path : `${loc.host}:${loc.path}`;
}
