// The Transport for a tree on another machine: everything is a few execs over one verified connection.
// Paths from listings only ever travel on stdin or as data; command lines hold just the manifest's root
// (a "~/dir" root resolved against the login directory first).
import { PassThrough, Transform, type TransformCallback, type Writable } from "node:stream";
import type { Change } from "../../model/change.js";
import { SourceChangedError, TransportError } from "../../model/errors.js";
import type { Host } from "../../model/manifest.js";
import { ancestorsOf, displayPath, isInside, ROOT, type RelPath } from "../../model/paths.js";
import { hashCommand, linksCommand, listCommand, onlyVanished, parseHashes, parseLinks, ListingParser, pathsInput, shq, afterMarker } from "../../scan/listing.js";
import type { Snapshot } from "../../model/snapshot.js";
import { ListingBuilder, toListing, type Listing } from "../../model/listing.js";
import { APPLY_COMMAND } from "../apply/helper.js";
import { applyOverStream } from "../apply/stream.js";
import { fail } from "./auth.js";
import { SshConnection, SshPool, type ConnectOptions } from "./connection.js";
import type { Endpoint } from "./config.js";
import { STDERR_TAIL_BYTES, type ApplyOptions, type ApplyResult, type ContentSource, type ExecOptions, type ExecResult, type RootProbe, type SourceFile, type Transport } from "../types.js";
import { keepTail } from "../tail.js";
import type { ScanOptions } from "../../scan/options.js";
import { ownerIds } from "../owner-ids.js";

export interface SshTransportOptions {
  /** Share connections with other transports to the same host; default: a private pool. */
  readonly pool?: SshPool;
  readonly connect?: ConnectOptions;
  /** Upper bound for one remote scan or hash command (a hung NFS mount must not hang us forever). */
  readonly scanTimeoutSec?: number;
  /** Upper bound for small commands: readFile, writeFile, run. */
  readonly commandTimeoutSec?: number;
}

/** The login directory (what `~/` is relative to), or why there is none. */
type LoginDir = { readonly ok: true; readonly dir: string } | { readonly ok: false; readonly why: string };

/** A running remote hashCommand: names go to stdin, its stdout comes once it has ended. */
interface Hashing {
  readonly stdin: Writable;
  readonly output: Promise<Buffer>;
}

const FILE_MARKER = "TSYNC-FILE\0";
const ABSENT_MARKER = "TSYNC-ABSENT\0";
const RUN_MARKER = "TSYNC-RUN\0";
const PROBE_MARKER = "TSYNC-PROBE\0";
const HOME_MARKER = "TSYNC-HOME\0";
const CHANGED_MARKER = "TSYNC-SOURCE-CHANGED";
/** What `timeout --verbose` prints when it kills (GNU coreutils; the quotes follow the locale). */
const TIMEOUT_LINE = /^timeout: sending signal \w+ to command .*$\n?/gm;
const printfMarker = (m: string) => `printf '${m.replace("\0", "\\0")}'`;

/** Exit 1 from find/xargs because paths vanished mid-walk is a normal race, not a failure. */
function firstLine(b: Buffer): string {
  return b.toString("utf8").trim().split("\n").filter(Boolean).pop() ?? "";
}

export class SshTransport implements Transport {
  readonly host: string;
  private readonly pool: SshPool;
  private readonly ownPool: boolean;
  private readonly scanTimeoutSec: number;
  private readonly commandTimeoutSec: number;

  constructor(
    private readonly target: Host,
    opts: SshTransportOptions = {},
  ) {
    this.host = target.name;
    this.ownPool = opts.pool === undefined;
    this.pool = opts.pool ?? new SshPool(opts.connect);
    this.scanTimeoutSec = opts.scanTimeoutSec ?? 1800;
    this.commandTimeoutSec = opts.commandTimeoutSec ?? 300;
  }

  private endpoint: Endpoint | undefined;
  private readonly probes = new WeakMap<SshConnection, Map<string, Promise<RootProbe>>>();
  private readonly sudoChecked = new WeakSet<SshConnection>();
  private readonly homes = new WeakMap<SshConnection, Promise<LoginDir>>();

  private async conn(): Promise<SshConnection> {
    const c = await this.pool.get(this.target);
    this.endpoint = c.endpoint;
    if (this.target.sudo && !this.sudoChecked.has(c)) {
      // Once per connection, before any work: a sudo that wants a password is one clear line here,
      // not a failure per listing, hash and file later.
      const r = await c.exec("sudo -n -- true");
      if (r.code !== 0) {
        const why = firstLine(r.stderr);
        throw this.error("sudo-failed", /password is required/.test(why)
          ? `sudo: true, but sudo asks ${c.endpoint.user} for a password (tsync runs sudo -n): allow ${c.endpoint.user} NOPASSWD in sudoers on this host`
          : `sudo: true, but \`sudo -n true\` failed as ${c.endpoint.user}: ${why || `exit status ${r.code}`}`);
      }
      this.sudoChecked.add(c);
    }
    return c;
  }

  /** The command line as sent: under `sudo -n` (no prompt, ever) when the host says sudo: true. */
  private sh(command: string): string {
    return this.target.sudo ? `sudo -n -- sh -c ${shq(command)}` : command;
  }

  /**
   * A root as the commands use it: "~/dir" (SPEC §6, relative to the login directory, as rsync's
   * `host:dir`) becomes the login user's home ($HOME, which must exist) plus dir, asked once per
   * connection and never under sudo.
   */
  private async at(root: string): Promise<string> {
    if (!root.startsWith("~/")) return root;
    const conn = await this.conn();
    // One lookup per connection, shared by callers that ask at once (a target's probe and its scan).
    let home = this.homes.get(conn);
    if (home === undefined) this.homes.set(conn, (home = this.loginDir(conn)));
    const h = await home;
    if (!h.ok) throw this.error("no-home", `cannot resolve ${root}: no login directory for ${conn.endpoint.user} (${h.why})`);
    return `${h.dir === "/" ? "" : h.dir}${root.slice(1)}`;
  }

  /** The login directory, or why there is none (a failed lookup is not cached: the next root asks again). */
  private async loginDir(conn: SshConnection): Promise<LoginDir> {
    try {
      const r = await conn.exec(`${printfMarker(HOME_MARKER)}; cd && pwd`);
      const dir = afterMarker(r.stdout, HOME_MARKER)?.toString("utf8").replace(/\n$/, "");
      if (r.code === 0 && dir !== undefined && dir.startsWith("/") && !dir.includes("\n")) return { ok: true, dir };
      this.homes.delete(conn);
      return { ok: false, why: firstLine(r.stderr) || `$HOME is ${JSON.stringify(dir ?? "")}` };
    } catch (err) {
      this.homes.delete(conn);
      throw err;
    }
  }

  // Every caller holds a connection by now, so messages show where the host was reached.
  private error(code: string, detail: string): TransportError {
    return this.endpoint ? fail(this.endpoint, code, detail) : new TransportError(this.target.name, code, detail);
  }

  /**
   * One listing exec: the whole tree, the `only` subtrees, or (shallow) the named entries alone.
   * `hashing`: each kept regular file's `./path\0` is written to its stdin as it is listed (a deep
   * scan's hashing), and its hashes are set on the listing's files.
   */
  private async list(root: string, opts: ScanOptions, paths: readonly RelPath[] | undefined, shallow: boolean, hashing?: Hashing): Promise<Listing | undefined> {
    try {
      return await this.listing(root, opts, paths, shallow, hashing);
    } finally {
      hashing?.stdin.end();
    }
  }

  private async listing(root: string, opts: ScanOptions, paths: readonly RelPath[] | undefined, shallow: boolean, hashing: Hashing | undefined): Promise<Listing | undefined> {
    const files = hashing?.stdin;
    const conn = await this.conn();
    const only = paths !== undefined;
    // Parsed as it arrives: the listing of a large tree is never held whole.
    const parser = new ListingParser({ exclude: opts.exclude, owners: opts.owners, ...(only && !shallow ? { only: paths } : {}), ...(opts.maxEntries !== undefined ? { maxEntries: opts.maxEntries } : {}), ...(files ? { collectFiles: true } : {}) });
    const prune = opts.exclude.prune;
    const proc = conn.spawn(this.sh(listCommand(root, { only, shallow, timeoutSec: this.scanTimeoutSec, ...(prune ? { prune } : {}) })), opts.signal ? { signal: opts.signal } : {});
    proc.stdin.end(only ? pathsInput(paths) : undefined);
    const stderr: Buffer[] = [];
    const [code] = await Promise.all([
      proc.done,
      (async () => {
        for await (const chunk of proc.stdout) {
          parser.push(chunk as Buffer);
          // Not awaiting 'drain': the hashing channel may wait for a free one while this one is busy.
          if (files) files.write(parser.takeFiles());
        }
      })(),
      (async () => {
        for await (const chunk of proc.stderr) stderr.push(chunk as Buffer);
      })(),
    ]);
    const r = { code, stderr: Buffer.concat(stderr) };
    const okCode = r.code === 0 || ((r.code === 1 || r.code === 123) && onlyVanished(r.stderr));
    if (r.code === 124) throw this.error("scan-timeout", `listing ${root} took longer than ${this.scanTimeoutSec} s`);
    if (!okCode) throw this.error("scan-failed", `cannot list ${root}: ${firstLine(r.stderr) || `exit status ${r.code}`}`);
    hashing?.stdin.end();
    const parsed = parser.end();
    if (parsed.kind === "no-root") return undefined;
    if (parsed.kind === "bad") throw this.error("scan-failed", `cannot list ${root}: ${parsed.error}`);
    if (hashing === undefined) return parsed.snapshot;
    const hashed = parser.withHashes(parsed.snapshot, await hashing.output);
    if (hashed === undefined) throw this.error("hash-failed", `cannot hash files in ${root}: unexpected output`);
    return hashed;
  }

  /** Which files share an inode (ScanOptions.links): path → "dev:ino". */
  private async links(root: string, paths: readonly RelPath[] | undefined, signal?: AbortSignal): Promise<Map<RelPath, string>> {
    const conn = await this.conn();
    const r = await conn.exec(this.sh(linksCommand(root, { only: paths !== undefined, timeoutSec: this.scanTimeoutSec })), {
      ...(paths ? { stdin: pathsInput(paths) } : {}),
      ...(signal ? { signal } : {}),
    });
    if (r.code === 124) throw this.error("scan-timeout", `listing hard links in ${root} took longer than ${this.scanTimeoutSec} s`);
    if (r.code !== 0 && !((r.code === 1 || r.code === 123) && onlyVanished(r.stderr))) {
      throw this.error("scan-failed", `cannot list hard links in ${root}: ${firstLine(r.stderr) || `exit status ${r.code}`}`);
    }
    const links = parseLinks(r.stdout);
    if (links === undefined) throw this.error("scan-failed", `cannot list hard links in ${root}: unexpected output`);
    return links;
  }

  /**
   * One exec per connection and root: the effective uid, whether the root is a symlink (its target
   * and `readlink -f`), and the ids of the chown names. Fields are NUL-terminated; names are data.
   */
  async probeRoot(written: string, chown?: { readonly user?: string; readonly group?: string }, signal?: AbortSignal): Promise<RootProbe> {
    const root = await this.at(written);
    const conn = await this.conn();
    let cache = this.probes.get(conn);
    if (!cache) this.probes.set(conn, (cache = new Map()));
    const key = JSON.stringify([root, chown?.user ?? null, chown?.group ?? null]);
    let p = cache.get(key);
    if (!p) {
      p = this.runProbe(conn, written, root, chown, signal);
      cache.set(key, p);
      p.catch(() => cache.delete(key));
    }
    return p;
  }

  /** `written`: the root as the manifest says it (a login-relative one stays so unless it is a link). */
  private async runProbe(conn: SshConnection, written: string, root: string, chown: { readonly user?: string; readonly group?: string } | undefined, signal?: AbortSignal): Promise<RootProbe> {
    const r = shq(root);
    const id = (v: string | undefined, lookup: string) => (v === undefined ? `printf '\\0'` : /^\d+$/.test(v) ? `printf '%s\\0' ${v}` : `printf '%s\\0' "$(${lookup.replace("NAME", shq(v))} 2>/dev/null)"`);
    const line = [
      `printf '${PROBE_MARKER.replace("\0", "\\0")}'`,
      `printf '%s\\0' "$(id -u)"`,
      `if [ -L ${r} ]; then printf 'L\\0%s\\0%s\\0' "$(readlink -- ${r})" "$(readlink -f -- ${r})"; else printf '%s\\0\\0\\0' -; fi`,
      id(chown?.user, "id -u -- NAME"),
      id(chown?.group, "getent group -- NAME | cut -d: -f3"),
    ].join("; ");
    const res = await conn.exec(this.sh(line), signal ? { signal } : {});
    const out = afterMarker(res.stdout, PROBE_MARKER);
    const f = out?.toString("utf8").split("\0");
    if (res.code !== 0 || !f || f.length < 6) throw this.error("probe-failed", `cannot inspect ${root}: ${firstLine(res.stderr) || `exit status ${res.code}`}`);
    const [uid, isLink, link, resolved, ou, og] = f as [string, string, string, string, string, string];
    if (isLink === "L" && resolved === "") throw this.error("probe-failed", `cannot resolve ${root}: it is a symlink to ${link} that readlink -f cannot follow`);
    return {
      path: isLink === "L" ? resolved : written,
      ...(isLink === "L" ? { link } : {}),
      privileged: uid === "0",
      ...(chown ? { owner: ownerIds(chown, ou, og) } : {}),
    };
  }

  async scan(written: string, opts: ScanOptions): Promise<Snapshot> {
    const root = await this.at(written);
    const only = opts.only !== undefined && !opts.only.includes(ROOT) ? opts.only : undefined;
    // A partial scan also returns every ancestor as an entry alone (ScanOptions.only): a second,
    // parallel listing of just those names.
    const parents = only ? [...new Set(only.flatMap((p) => ancestorsOf(p)))].filter((a) => !only.some((o) => isInside(a, o) || a === o)) : [];
    // A deep scan hashes the files as the listing names them (one more channel), not after it.
    const hashing = opts.hash === "all" ? this.hashing(root, opts.signal) : undefined;
    const [listed, above, links] = await Promise.all([
      this.list(root, opts, only, false, hashing),
      parents.length > 0 ? this.list(root, opts, parents, true) : Promise.resolve(undefined),
      opts.links ? this.links(root, only, opts.signal) : Promise.resolve(undefined),
    ]);
    if (listed === undefined) return toListing(new Map());
    let snapshot = listed;
    if (above !== undefined && above.size > 0) {
      // Ancestors listed alone: only those the main listing lacks (a partial scan, so small).
      const b = new ListingBuilder();
      for (let i = 0; i < above.size; i++) if (!listed.has(above.pathAt(i))) b.add(above.pathAt(i), above.recAt(i));
      for (let i = 0; i < listed.size; i++) b.add(listed.pathAt(i), listed.recAt(i));
      snapshot = b.finish();
    }
    if (links !== undefined) snapshot = snapshot.withLinks(links);
    return snapshot;
  }

  async hash(written: string, paths: readonly RelPath[], signal?: AbortSignal): Promise<Map<RelPath, string>> {
    if (paths.length === 0) return new Map();
    const root = await this.at(written);
    const h = this.hashing(root, signal);
    h.stdin.end(pathsInput(paths));
    const parsed = parseHashes(await h.output);
    if (parsed === undefined) throw this.error("hash-failed", `cannot hash files in ${root}: unexpected output`);
    return parsed;
  }

  /** A remote hashCommand reading `./path\0` names from `stdin` as they are written; its output once it ends. */
  private hashing(root: string, signal?: AbortSignal): Hashing {
    const stdin = new PassThrough();
    const output = (async () => {
      const conn = await this.conn();
      const r = await conn.exec(this.sh(hashCommand(root, this.scanTimeoutSec)), { stdin, ...(signal ? { signal } : {}) });
      // 123: some files could not be read (they are left out, as the interface says).
      if (r.code !== 0 && r.code !== 123) throw this.error("hash-failed", `cannot hash files in ${root}: ${firstLine(r.stderr) || `exit status ${r.code}`}`);
      return r.stdout;
    })();
    // Awaited by the caller; a listing that fails first must not leave this as an unhandled rejection.
    output.catch(() => {});
    return { stdin, output };
  }

  // The name arrives on stdin; a path that is not a regular file (or is a symlink) reads as absent.
  private readCommand(root: string): string {
    const inner = `[ -f "$1" ] && [ ! -L "$1" ] || { ${printfMarker(ABSENT_MARKER)}; exit 0; }; ${printfMarker(FILE_MARKER)}; exec cat -- "$1"`;
    return [
      `cd -- ${shq(root)} 2>/dev/null || { ${printfMarker(ABSENT_MARKER)}; exit 0; }`,
      `timeout -k 5 ${this.commandTimeoutSec} xargs -0 -r -n 1 sh -c ${shq(inner)} sh`,
    ].join("\n");
  }

  async readFile(written: string, path: RelPath, signal?: AbortSignal): Promise<Buffer | undefined> {
    const root = await this.at(written);
    const conn = await this.conn();
    const r = await conn.exec(this.sh(this.readCommand(root)), { stdin: pathsInput([path]), ...(signal ? { signal } : {}) });
    if (r.code !== 0) throw this.error("read-failed", `cannot read ${root}: ${displayPath(path)}: ${firstLine(r.stderr) || `exit status ${r.code}`}`);
    // Whichever marker comes first decides: the file's own bytes may contain either.
    const f = r.stdout.indexOf(FILE_MARKER, 0, "latin1");
    const a = r.stdout.indexOf(ABSENT_MARKER, 0, "latin1");
    if (f >= 0 && (a < 0 || f < a)) return r.stdout.subarray(f + FILE_MARKER.length);
    if (a >= 0) return undefined;
    throw this.error("read-failed", `cannot read ${root}: ${displayPath(path)}: unexpected output`);
  }

  /**
   * Like readCommand, for sending: the file's stat (size, mtime, ctime, inode, device) is taken before
   * and after `cat`, and a difference is reported on stderr (the file changed while it was read; the
   * bytes may be torn). Where stat has no `%.9Y` both are empty and equal: no check, never a failure.
   */
  private sendCommand(root: string): string {
    const st = `stat -c '%s %.9Y %.9Z %i %d' -- "$1" 2>/dev/null`;
    const inner =
      `[ -f "$1" ] && [ ! -L "$1" ] || { ${printfMarker(ABSENT_MARKER)}; exit 0; }; s=$(${st}); ${printfMarker(FILE_MARKER)}; ` +
      `cat -- "$1" || exit 1; [ "$(${st})" = "$s" ] || { echo ${CHANGED_MARKER} >&2; exit 1; }`;
    return [
      `cd -- ${shq(root)} 2>/dev/null || { ${printfMarker(ABSENT_MARKER)}; exit 0; }`,
      `timeout -k 5 ${this.commandTimeoutSec} xargs -0 -r -n 1 sh -c ${shq(inner)} sh`,
    ].join("\n");
  }

  contentSource(written: string): ContentSource {
    return {
      open: async (path: RelPath): Promise<SourceFile> => {
        const root = await this.at(written);
        const conn = await this.conn();
        const proc = conn.spawn(this.sh(this.sendCommand(root)));
        proc.stdin.end(pathsInput([path]));
        let stderr = "";
        proc.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString("latin1")).slice(-4096)));
        // The stream ends only once the exit status is known: a change seen by the last stat must
        // fail it before the sender writes the end frame.
        const verdict = proc.done.then(
          (code) =>
            code === 0
              ? undefined
              : stderr.includes(CHANGED_MARKER)
                ? new SourceChangedError("source changed while it was read")
                : this.error("read-failed", `cannot read a file in ${root}: exit status ${code}`),
          (err: Error) => err,
        );
        const body = proc.stdout.pipe(new StripToMarker(() => this.error("read-failed", `${displayPath(path)} is no longer a regular file in ${root}`), verdict));
        return { stream: body };
      },
    };
  }

  async apply(written: string, changes: readonly Change[], content: ContentSource, opts?: ApplyOptions): Promise<ApplyResult> {
    const root = await this.at(written);
    const conn = await this.conn();
    const proc = conn.spawn(this.sh(APPLY_COMMAND), opts?.signal ? { signal: opts.signal } : {});
    return applyOverStream(proc, root, changes, content, opts);
  }

  async run(command: string, signal?: AbortSignal): Promise<{ code: number; output: string }> {
    const conn = await this.conn();
    const line = `${printfMarker(RUN_MARKER)}; exec timeout -k 5 ${this.commandTimeoutSec} sh -c ${shq(command)} 2>&1`;
    const r = await conn.exec(this.sh(line), signal ? { signal } : {});
    const out = afterMarker(r.stdout, RUN_MARKER) ?? r.stdout;
    return { code: r.code, output: out.toString("utf8") + r.stderr.toString("utf8") };
  }

  /**
   * GNU `timeout` on the target kills the command's process group (it makes itself the group leader);
   * a local guard a little later aborts the channel, should the target not answer at all.
   */
  async exec(command: string, o: ExecOptions): Promise<ExecResult> {
    const conn = await this.conn();
    const env = Object.entries(o.env).map(([k, v]) => `${k}=${shq(v)}`).join(" ");
    const line = [
      `cd -- ${shq(o.cwd)} || exit 126`,
      ...(env ? [`export ${env}`] : []),
      `exec timeout --verbose -k 5 ${o.timeoutMs / 1000}s sh -c ${shq(command)} >/dev/null`,
    ].join("\n");
    const guard = new AbortController();
    const timer = setTimeout(() => guard.abort(), o.timeoutMs + 15_000);
    try {
      const proc = conn.spawn(this.sh(line), { signal: o.signal ? AbortSignal.any([o.signal, guard.signal]) : guard.signal });
      const tail = keepTail(proc.stderr, STDERR_TAIL_BYTES);
      proc.stdout.resume();
      proc.stdin.on("error", () => {}); // a command that does not read its input
      proc.stdin.end(o.stdin);
      const code = await proc.done;
      const err = tail();
      const timedOut = guard.signal.aborted || ((code === 124 || code === 137) && TIMEOUT_LINE.test(err));
      TIMEOUT_LINE.lastIndex = 0;
      return { code, timedOut, stderrTail: err.replace(TIMEOUT_LINE, "") };
    } finally {
      clearTimeout(timer);
    }
  }

  async writeFile(absPath: string, data: Buffer, signal?: AbortSignal): Promise<void> {
    const slash = absPath.lastIndexOf("/");
    const tmp = `${absPath.slice(0, slash + 1)}.${absPath.slice(slash + 1)}.tsync-tmp`;
    const f = shq(absPath);
    const t = shq(tmp);
    // Keep the old file's mode so a config stays readable by whoever read it before.
    const line = `umask 022; timeout -k 5 ${this.commandTimeoutSec} cat > ${t} && { [ ! -e ${f} ] || chmod --reference=${f} ${t}; } && mv -f -- ${t} ${f} || { rc=$?; rm -f -- ${t}; exit $rc; }`;
    const conn = await this.conn();
    const r = await conn.exec(this.sh(line), { stdin: data, ...(signal ? { signal } : {}) });
    if (r.code !== 0) throw this.error("write-failed", `cannot write ${absPath}: ${firstLine(r.stderr) || `exit status ${r.code}`}`);
  }

  async close(): Promise<void> {
    if (this.ownPool) await this.pool.closeAll();
  }
}

/** Drops whatever precedes FILE_MARKER (shell rc noise) and passes the file's bytes through. */
class StripToMarker extends Transform {
  private found = false;
  private head = Buffer.alloc(0);
  constructor(
    private readonly absent: () => Error,
    /** Settles when the command has exited: an error fails the stream instead of ending it. */
    private readonly verdict: Promise<Error | undefined>,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.found) return cb(null, chunk);
    this.head = Buffer.concat([this.head, chunk]);
    const rest = afterMarker(this.head, FILE_MARKER);
    if (rest === undefined) return cb();
    this.found = true;
    this.head = Buffer.alloc(0);
    cb(null, rest);
  }
  override _flush(cb: TransformCallback): void {
    if (!this.found) return cb(this.absent());
    void this.verdict.then((err) => cb(err ?? null));
  }
}
