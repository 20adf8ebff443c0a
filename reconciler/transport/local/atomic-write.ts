// The one way tsync replaces a local file: a temp file beside it, flushed, then renamed over it, so a
// reader (nginx, `tsync status`, `tsync apply PLANFILE`) sees the old file or the new one, never a
// partial one, also when tsync dies mid-write.
import { randomBytes } from "node:crypto";
import { constants, promises as fsp } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface AtomicWriteOptions {
  /** The new file's mode; default: the mode of the file it replaces (nginx configs are often 0644 root-owned), else 0644. */
  readonly mode?: number;
  readonly signal?: AbortSignal;
}

export async function writeFileAtomic(absPath: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = join(dirname(absPath), `.${basename(absPath)}.tsync-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    const mode = opts.mode ?? (await fsp.lstat(absPath).then((s) => (s.isFile() ? s.mode & 0o7777 : 0o644), () => 0o644));
    const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      await fh.writeFile(data, opts.signal ? { signal: opts.signal } : {});
      await fh.chmod(mode); // the umask applied to open's mode
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, absPath);
  } catch (err) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw err;
  }
}
