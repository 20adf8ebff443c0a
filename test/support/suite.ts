// One sshd fleet and one temp dir for a whole integration test file, torn down after it; both are kept
// for inspection (and their paths printed) when a check fails.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { startSshdFleet, type Fleet } from "./sshd.js";

export function sshdSuite(addresses: readonly string[], prefix: string, ready: (fleet: Fleet, dir: string) => void) {
  let fleet: Fleet | undefined;
  let dir: string | undefined;
  let failed = false;
  before(async () => {
    fleet = await startSshdFleet({ addresses });
    dir = mkdtempSync(join(tmpdir(), prefix));
    ready(fleet, dir);
  });
  after(async () => {
    await fleet?.close({ keep: failed });
    if (dir && !failed) rmSync(dir, { recursive: true, force: true });
    else if (dir) console.error(`# test files kept for inspection: ${dir}`);
  });
  return {
    /** Runs a test body; a failure keeps the fleet's logs and the temp dir. */
    check<T>(fn: () => Promise<T>): Promise<T> {
      return fn().catch((e: unknown) => {
        failed = true;
        throw e;
      });
    },
  };
}
