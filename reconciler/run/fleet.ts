// One transport per machine, opened lazily and shared by every sync that touches it (one SSH
// connection per host, whatever the number of syncs).
import type { Manifest } from "../model/manifest.js";
import type { Transport } from "../transport/types.js";
import { LocalTransport } from "../transport/local/local-transport.js";
import { SshTransport } from "../transport/ssh/ssh-transport.js";
import { defaultHashCacheDir } from "../scan/hash-cache.js";
import pLimit, { type LimitFunction } from "p-limit";

export class Fleet {
  private readonly transports = new Map<string, Transport>();
  private local?: Transport;

  /** Bounds scans and transfers in flight across all targets (settings.maxProcesses). */
  readonly limit: LimitFunction;

  constructor(private readonly manifest: Manifest) {
    this.limit = pLimit(manifest.settings.maxProcesses);
  }

  /** The directory of the source hash cache (settings.hashCache); undefined when turned off. */
  get hashCacheDir(): string | undefined {
    const dir = this.manifest.settings.hashCache;
    return dir === false ? undefined : (dir ?? defaultHashCacheDir());
  }

  /** The transport for a named host, or the local machine when `host` is undefined. */
  transport(host: string | undefined): Transport {
    if (host === undefined) return (this.local ??= new LocalTransport());
    let t = this.transports.get(host);
    if (!t) {
      const h = this.manifest.hosts.get(host);
      if (!h) throw new Error(`unknown host ${host}`); // the manifest rules make this unreachable
      t = new SshTransport(h);
      this.transports.set(host, t);
    }
    return t;
  }

  async close(): Promise<void> {
    const all = [...this.transports.values(), ...(this.local ? [this.local] : [])];
    this.transports.clear();
    this.local = undefined;
    await Promise.allSettled(all.map((t) => t.close()));
  }
}
