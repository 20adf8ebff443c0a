// One typed in-memory Transport for unit tests of code above the transports (nginx deploy, saved-plan
// re-checks, the nginx follower). Real transports are tested against real sshd and local trees.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { Change } from "../../reconciler/model/change.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import type { Entry, Snapshot } from "../../reconciler/model/snapshot.js";
import type { ScanOptions } from "../../reconciler/scan/options.js";
import type { ApplyResult, ContentSource, ExecOptions, ExecResult, RootProbe, Transport } from "../../reconciler/transport/types.js";

export type RunResult = { code: number; output: string };

export class FakeTransport implements Transport {
  /** What `scan` returns, restricted to `opts.only` when given. */
  readonly entries = new Map<RelPath, Entry>();
  /** Every command `run` was given, and every scan's options, in order. */
  readonly ran: string[] = [];
  readonly scans: ScanOptions[] = [];
  /** Every batch `apply` was given; the fake applies nothing to `entries`. */
  readonly applied: (readonly Change[])[] = [];

  constructor(
    readonly host = "fake",
    private readonly onRun: (command: string) => RunResult = () => ({ code: 0, output: "" }),
    /** File contents by absolute path (readFile, writeFile, contentSource, hash); the caller may keep the map to look. */
    readonly files = new Map<string, Buffer>(),
  ) {}

  withEntries(entries: Record<string, Entry>): this {
    for (const [path, e] of Object.entries(entries)) this.entries.set(path as RelPath, e);
    return this;
  }

  async probeRoot(root: string): Promise<RootProbe> {
    return { path: root, privileged: true };
  }

  async scan(_root: string, opts: ScanOptions): Promise<Snapshot> {
    this.scans.push(opts);
    return new Map([...this.entries].filter(([k]) => !opts.only || opts.only.includes(k)));
  }

  async hash(root: string, paths: readonly RelPath[]): Promise<Map<RelPath, string>> {
    const out = new Map<RelPath, string>();
    for (const p of paths) {
      const data = this.files.get(join(root, p));
      if (data) out.set(p, createHash("blake2b512").update(data).digest("hex"));
    }
    return out;
  }

  async readFile(root: string, path: RelPath): Promise<Buffer | undefined> {
    return this.files.get(join(root, path));
  }

  contentSource(root: string): ContentSource {
    return { open: async (path) => ({ stream: Readable.from([this.files.get(join(root, path)) ?? Buffer.alloc(0)]) }) };
  }

  async apply(_root: string, changes: readonly Change[]): Promise<ApplyResult> {
    this.applied.push(changes);
    return { applied: changes.length, bytes: 0, problems: [] };
  }

  async run(command: string): Promise<RunResult> {
    this.ran.push(command);
    return this.onRun(command);
  }

  /** Every hook `exec` was given, in order; `onExec` decides its result. */
  readonly execs: { command: string; opts: ExecOptions }[] = [];
  onExec: (command: string, opts: ExecOptions) => ExecResult = () => ({ code: 0, timedOut: false, stderrTail: "" });

  async exec(command: string, opts: ExecOptions): Promise<ExecResult> {
    this.execs.push({ command, opts });
    return this.onExec(command, opts);
  }

  async writeFile(absPath: string, data: Buffer): Promise<void> {
    this.files.set(absPath, Buffer.from(data));
  }

  async close(): Promise<void> {}
}
