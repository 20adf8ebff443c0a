// One verified SSH connection per host (node-ssh over ssh2), with raw Buffer exec/spawn on its channels.
// Failures become one-line TransportError/HostKeyError messages naming the host and its address.
import { connect as tcpConnect } from "node:net";
import { constants as osConstants } from "node:os";
import { PassThrough, Transform, type Duplex, type Readable, type TransformCallback, type Writable } from "node:stream";
import type { ConnectConfig, ServerHostKeyAlgorithm } from "ssh2";
import { TransportError, errorMessage } from "../../model/errors.js";
import type { Host } from "../../model/manifest.js";
import { readKnownHosts, knownKeyTypes, verifyHostKey } from "./hostkeys.js";
import { authMethods, connectFailure, fail, hostKeyFailure, hostLabel } from "./auth.js";
import { resolveEndpoint, type Endpoint } from "./config.js";
import { nodeSsh } from "./ssh2-lib.js";
import type { NodeSSH } from "node-ssh";

export { hostLabel } from "./auth.js";

export interface ConnectOptions {
  readonly readyTimeoutMs?: number;
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCountMax?: number;
  /** Concurrent channels per connection (sshd's MaxSessions is 10 by default). */
  readonly maxChannels?: number;
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

export interface RemoteProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Exit code (128+n when killed by signal n); rejects with a TransportError when the connection fails. */
  readonly done: Promise<number>;
}

// The parts of ssh2's Client and ClientChannel we use, typed for raw Buffers.
interface Channel extends Readable {
  stderr: Readable;
  end(data?: Buffer): this;
  write(data: Buffer): boolean;
  signal(name: string): void;
  close(): void;
}
interface Client {
  exec(command: string, cb: (err: Error | undefined, ch: Channel) => void): void;
  forwardOut(srcIP: string, srcPort: number, dstIP: string, dstPort: number, cb: (err: Error | undefined, stream: Duplex) => void): void;
  setNoDelay(v: boolean): void;
  on(event: "error", fn: (err: Error & { level?: string }) => void): this;
  on(event: "close", fn: () => void): this;
  once(event: "close", fn: () => void): this;
  end(): void;
}

// ssh2's default order, with the key types known_hosts holds for the host moved first (as OpenSSH does),
// so a server with several keys shows the one we can verify.
const HOST_KEY_ALGOS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];

// ssh2's Channel#signal stays silent once we have sent EOF (every exec closes stdin when its input
// is done), yet sshd still delivers a signal then (killpg on the session); so send the request
// through the protocol object directly while the channel is open.
function signalChannel(ch: Channel, name: string): void {
  const c = ch as unknown as { outgoing?: { id: number; state: string }; _client?: { _protocol?: { signal(id: number, s: string): void } } };
  try {
    if ((c.outgoing?.state === "open" || c.outgoing?.state === "eof") && c._client?._protocol) c._client._protocol.signal(c.outgoing.id, name);
    else ch.signal(name);
  } catch {
    // the channel or connection is already gone
  }
}

const PID_MARKER = "TSYNC-PID:";

/** stderr minus the leading pid report (and any shell rc noise before it); keeps the pid. */
class PidSniffer extends Transform {
  pid: number | undefined;
  private head: Buffer | undefined = Buffer.alloc(0);
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.head === undefined) return cb(null, chunk);
    this.head = Buffer.concat([this.head, chunk]);
    const m = /TSYNC-PID:(\d+)\0/.exec(this.head.toString("latin1"));
    if (m === null) return cb();
    this.pid = Number(m[1]);
    const rest = this.head.subarray(m.index + m[0].length);
    this.head = undefined;
    cb(null, rest);
  }
  override _flush(cb: TransformCallback): void {
    cb(null, this.head); // no report: whatever the shell said is the story
  }
}

class Semaphore {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

/** One SSH login to `ep`, over `sock` (a jump host's forwarded channel) or TCP. */
async function dial(ep: Endpoint, opts: Required<ConnectOptions>, sock?: Duplex): Promise<Client> {
  const auth = await authMethods(ep);
  if (auth instanceof TransportError) throw auth;
  let known: string[];
  try {
    known = knownKeyTypes(readKnownHosts(ep.knownHosts), ep.hostname, ep.port);
  } catch (err) {
    throw fail(ep, "ssh-hostkey", `cannot read known_hosts ${ep.knownHosts}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
  let refusal: TransportError | undefined;
  const hostVerifier = (key: Buffer): boolean => {
    try {
      const v = verifyHostKey(ep.knownHosts, ep.hostname, ep.port, key, ep.hostKeyChecking);
      if (!v.ok) refusal = hostKeyFailure(ep, v);
      return v.ok;
    } catch (err) {
      refusal = fail(ep, "ssh-hostkey", `cannot update known_hosts ${ep.knownHosts}: ${errorMessage(err)}`);
      return false;
    }
  };
  // Our own TCP socket, so Nagle's algorithm is off from the first byte: the key exchange and the login
  // are runs of small writes, and with it on the server's delayed ACK held each login ~40 ms per round
  // (loopback: ready in 29 ms instead of 72). ssh2 waits for the socket's connect and reports its errors.
  const tcp = sock ?? tcpConnect({ host: ep.hostname, port: ep.port, noDelay: true });
  coalesceWrites(tcp);
  const config: ConnectConfig = {
    host: ep.hostname,
    port: ep.port,
    username: ep.user,
    sock: tcp as ConnectConfig["sock"],
    hostVerifier,
    authHandler: auth.methods as ConnectConfig["authHandler"],
    readyTimeout: opts.readyTimeoutMs,
    keepaliveInterval: opts.keepaliveIntervalMs,
    keepaliveCountMax: opts.keepaliveCountMax,
    algorithms: { serverHostKey: [...new Set([...known.flatMap((t) => (t === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [t])).filter((t) => HOST_KEY_ALGOS.includes(t)), ...HOST_KEY_ALGOS])] as ServerHostKeyAlgorithm[] },
  };
  // node-ssh makes the connection (and rejects when the server hangs up before "ready"); the raw ssh2
  // Client it holds does the Buffer exec/spawn below.
  const ssh = new (nodeSsh().NodeSSH)();
  try {
    await ssh.connect(config as Parameters<NodeSSH["connect"]>[0]);
  } catch (err) {
    ssh.dispose();
    tcp.destroy();
    throw refusal ?? connectFailure(ep, err, auth, opts.readyTimeoutMs);
  }
  return ssh.connection as unknown as Client;
}

/**
 * ssh2 writes every SSH packet (32 KiB at most) to the socket by itself: a 1 MiB chunk of a file was
 * 32 send calls, each waking the server. What is written in one tick goes out as one writev.
 */
export function coalesceWrites(sock: Duplex): void {
  const write = sock.write;
  sock.write = function (this: Duplex, ...args: Parameters<Duplex["write"]>): boolean {
    if (this.writableCorked === 0) {
      this.cork();
      process.nextTick(() => this.uncork());
    }
    return write.apply(this, args);
  } as Duplex["write"];
}

/** A TCP stream to `to` opened by the jump host `via` (sshd's direct-tcpip). */
function forward(via: Client, viaEp: Endpoint, to: Endpoint): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    try {
      via.forwardOut("127.0.0.1", 0, to.hostname, to.port, (err, stream) => {
        if (err) reject(fail(viaEp, "ssh-jump", `cannot open a tunnel to ${to.hostname}:${to.port}: ${err.message}`));
        else resolve(stream);
      });
    } catch (err) {
      reject(fail(viaEp, "ssh-jump", `cannot open a tunnel to ${to.hostname}:${to.port}: ${errorMessage(err)}`));
    }
  });
}

export class SshConnection {
  private failure: TransportError | undefined;
  private readonly channels: Semaphore;
  private readonly active = new Map<Channel, PidSniffer>();

  private constructor(
    readonly endpoint: Endpoint,
    private readonly client: Client,
    opts: Required<ConnectOptions>,
    private readonly hops: readonly Client[],
  ) {
    const host = endpoint;
    this.channels = new Semaphore(opts.maxChannels);
    client.setNoDelay(true); // per-exec latency 57 ms → 12 ms on loopback (Nagle vs small packets)
    client.on("error", (err) => {
      this.failure ??= err.message === "Keepalive timeout"
        ? fail(host, "ssh-timeout", `timed out: no answer to keepalives for ${(opts.keepaliveIntervalMs * (opts.keepaliveCountMax + 1)) / 1000} s`)
        : fail(host, "ssh-closed", `connection lost: ${err.message}`);
    });
    client.on("close", () => {
      this.failure ??= fail(host, "ssh-closed", "connection closed");
      for (const h of this.hops) h.end();
    });
  }

  static async open(host: Host, options: ConnectOptions = {}): Promise<SshConnection> {
    const ep = resolveEndpoint(host);
    if (ep instanceof TransportError) throw ep;
    // ssh config's ConnectTimeout / ServerAlive* replace our defaults; a caller's explicit options win.
    const opts: Required<ConnectOptions> = {
      readyTimeoutMs: ep.connectTimeoutMs ?? 10_000,
      keepaliveIntervalMs: ep.serverAliveIntervalMs ?? 2_000,
      keepaliveCountMax: ep.serverAliveCountMax ?? 3,
      maxChannels: 4,
      ...options,
    };
    const hops: Client[] = [];
    try {
      let sock: Duplex | undefined;
      for (const [i, hop] of ep.jumps.entries()) {
        const c = await dial(hop, opts, sock);
        hops.push(c);
        c.setNoDelay(true);
        c.on("error", () => undefined); // a dead hop closes the tunnel; the target's connection reports it
        sock = await forward(c, hop, ep.jumps[i + 1] ?? ep);
      }
      const client = await dial(ep, opts, sock);
      return new SshConnection(ep, client, opts, hops);
    } catch (err) {
      for (const h of hops.reverse()) h.end();
      // A hop's failure is reported for the target, naming the hop: the target is what was asked for.
      if (err instanceof TransportError && err.host !== ep.name && ep.jumps.some((j) => j.name === err.host)) {
        const e = new (err.constructor as typeof TransportError)(ep.name, err.code, err.message, err.hint);
        e.message = `${hostLabel(ep)}: through jump host ${err.message}`;
        throw e;
      }
      throw err;
    }
  }

  get alive(): boolean {
    return this.failure === undefined;
  }

  /** Run `command` (a sh command line) with raw Buffers in and out. */
  async exec(command: string, opts: { stdin?: Buffer | Readable; signal?: AbortSignal } = {}): Promise<ExecResult> {
    const proc = this.spawn(command, opts.signal ? { signal: opts.signal } : {});
    if (opts.stdin === undefined) proc.stdin.end();
    else if (Buffer.isBuffer(opts.stdin)) proc.stdin.end(opts.stdin);
    else opts.stdin.pipe(proc.stdin);
    const [stdout, stderr, code] = await Promise.all([readAll(proc.stdout), readAll(proc.stderr), proc.done]);
    return { code, stdout, stderr };
  }

  /** A remote process on its own channel; streams are usable at once, the channel opens when one is free. */
  spawn(command: string, opts: { signal?: AbortSignal } = {}): RemoteProcess {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PidSniffer();
    const endAll = () => {
      for (const s of [stdout, stderr]) if (!s.writableEnded) s.end();
    };
    const done = (async () => {
      const release = await this.channels.acquire();
      let opened = false;
      try {
        if (opts.signal?.aborted) throw fail(this.endpoint, "aborted", "aborted");
        if (this.failure) throw this.failure;
        return await new Promise<number>((resolve, reject) => {
          // A connection that just died fails here (synchronously or in the callback) before its
          // 'error'/'close' events explain why; prefer that explanation once it is known.
          const refuse = (err: Error) => {
            // The server declining one channel ("open failure") leaves the connection usable; any other
            // failure (no socket, no response) means it is gone, even before its 'close' event comes:
            // mark it so the pool opens a new one instead of handing this one out again.
            if (!/open failure/i.test(err.message)) this.failure ??= fail(this.endpoint, "ssh-closed", `connection lost (${err.message})`);
            setImmediate(() => reject(this.failure ?? fail(this.endpoint, "ssh-channel", `cannot open a channel: ${err.message}`)));
          };
          try {
            // Listeners go on in this callback: a fast command's exit status can arrive in the same
            // socket read as the channel confirmation, before any awaiting code would run.
            // The session's shell is a process-group leader (sshd calls setsid); its pid lets an abort
            // kill the whole group where sshd refuses signal requests (it does for root logins).
            this.client.exec(`printf '${PID_MARKER}%s\\0' "$$" >&2; ${command}`, (err, ch) => {
              if (err) return refuse(err);
              opened = true;
              this.run(ch, stdin, stdout, stderr, release, opts.signal).then(resolve, reject);
            });
          } catch (err) {
            refuse(err as Error);
          }
        });
      } finally {
        // An open channel holds its slot until the host closes it (see run). Its output streams are
        // ended by their pipes: ssh2 emits 'close' while output may still sit in the channel's
        // buffers, and ending them here made the rest of it a "write after end" error.
        if (!opened) {
          release();
          endAll();
        }
      }
    })();
    done.catch(() => undefined); // the caller awaits `done`; don't let an unawaited one crash the process
    return { stdin, stdout, stderr, done };
  }

  private run(ch: Channel, stdin: PassThrough, stdout: PassThrough, stderr: PidSniffer, release: () => void, signal?: AbortSignal): Promise<number> {
    this.active.set(ch, stderr);
    return new Promise<number>((resolve, reject) => {
      let code: number | undefined;
      const onAbort = () => {
        // Settle now: a command that ignores TERM must not hold the caller; its slot frees on close.
        signalChannel(ch, "TERM");
        void this.killGroup(stderr.pid);
        try {
          ch.close();
        } catch {
          // channel already gone
        }
        reject(fail(this.endpoint, "aborted", "aborted"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      ch.on("exit", (c: number | null, sig?: string) => {
        code = c ?? 128 + ((sig && osConstants.signals[sig as keyof typeof osConstants.signals]) || 0);
      });
      ch.on("error", () => undefined); // surfaced through 'close' without an exit status
      ch.pipe(stdout);
      ch.stderr.pipe(stderr);
      stdin.pipe(ch as unknown as Writable);
      ch.once("close", () => {
        this.active.delete(ch);
        release();
        signal?.removeEventListener("abort", onAbort);
        stdin.unpipe();
        stdin.resume(); // drain what a caller still writes
        if (code !== undefined) resolve(code);
        else reject(this.failure ?? fail(this.endpoint, "ssh-closed", "channel closed before the command finished"));
      });
    });
  }

  private async killGroup(pid: number | undefined): Promise<void> {
    if (pid === undefined || this.failure) return;
    await this.exec(`kill -TERM -- -${pid} 2>/dev/null; true`).catch(() => undefined);
  }

  /** Signal running commands (closing alone leaves them running on the host), then disconnect. */
  async close(): Promise<void> {
    if (this.failure) return;
    const kills: Promise<void>[] = [];
    for (const [ch, sniffer] of this.active) {
      signalChannel(ch, "TERM");
      kills.push(this.killGroup(sniffer.pid));
    }
    let killTimer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(kills), new Promise((r) => (killTimer = setTimeout(r, 2_000)))]);
    clearTimeout(killTimer);
    const closed = new Promise<void>((r) => this.client.once("close", () => r()));
    this.failure = fail(this.endpoint, "ssh-closed", "connection closed by tsync");
    this.client.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, 2_000)))]);
    clearTimeout(timer);
  }
}

/** Reuses one connection per host; a failed or dropped one is replaced on the next request. */
export class SshPool {
  private readonly conns = new Map<string, Promise<SshConnection>>();
  constructor(private readonly opts: ConnectOptions = {}) {}

  async get(host: Host): Promise<SshConnection> {
    const key = JSON.stringify([host.name, host.user, host.address, host.port, host.identityFile]);
    const existing = this.conns.get(key);
    if (existing) {
      const conn = await existing.catch(() => undefined);
      if (conn?.alive) return conn;
      if (this.conns.get(key) !== existing) return this.get(host);
    }
    const fresh = SshConnection.open(host, this.opts);
    this.conns.set(key, fresh);
    fresh.catch(() => {
      if (this.conns.get(key) === fresh) this.conns.delete(key);
    });
    return fresh;
  }

  async closeAll(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((p) => p.then((c) => c.close(), () => undefined)));
  }
}

/**
 * A stream's bytes once it ends. (stream/consumers' buffer() copies them twice, through a Blob it
 * reads back in chunks: ~30 ms of a small-20k deep plan, whose 4 hash outputs are 3 MB each.)
 */
function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}
