// `tsync pause` entries and where they are kept: a small JSON file next to the status file, so a
// paused target stays paused across daemon restarts (a maintenance window outlives a reboot).
import { readFileSync } from "node:fs";
import { formatLocation, type Location } from "../model/manifest.js";
import { writeFileAtomic } from "../transport/local/atomic-write.js";

/** Entry (as given to pause) → ISO time it was paused. */
export type Pauses = Record<string, string>;

export interface PauseStore {
  load(): Pauses;
  save(p: Pauses): Promise<void>;
}

/** A host name pauses all its targets; HOST:/path or a local path pauses that one target. */
export function matchesPause(what: string, loc: Location): boolean {
  return loc.host === what || formatLocation(loc) === what;
}

export function pauseFileFor(statusFile: string): string {
  return `${statusFile}.paused`;
}

/** A missing file is nothing paused; an unreadable or malformed one is an error the caller reports. */
export function filePauseStore(file: string): PauseStore {
  return {
    load() {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
        throw new Error(`cannot read the pause file ${file}: ${(err as Error).message}`);
      }
      let doc: { paused?: unknown };
      try {
        doc = JSON.parse(text) as { paused?: unknown };
      } catch {
        throw new Error(`${file}: not a tsync pause file (invalid JSON)`);
      }
      const p = doc?.paused;
      if (!p || typeof p !== "object" || Object.values(p).some((v) => typeof v !== "string" || Number.isNaN(Date.parse(v))))
        throw new Error(`${file}: not a tsync pause file`);
      return p as Pauses;
    },
    save: (p) => writeFileAtomic(file, JSON.stringify({ formatVersion: 1, paused: p }, null, 2) + "\n"),
  };
}
