// lsyncd 2.2.3 configured as the seed configures it (default.rsync, delay 1, maxProcesses 5, rsync
// -rltupgo over ssh), rewritten in the 2.2 syntax (see STACK.md): one sync{} per target.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { World } from "./world.js";
import { startDaemon, type Daemon } from "./procs.js";

const lua = (s: string) => JSON.stringify(s); // a JSON string literal is a valid Lua string literal for our paths

/** lsyncd syncing `source` to node-i:targets[i] (or, with `locations`, to each target as written: a local path or `node-1:/path`). */
export function writeLsyncdConfig(w: World, name: string, source: string, targets: readonly string[], locations = false): string {
  const file = join(w.dir, `${name}.lsyncd.lua`);
  const syncs = targets.map(
    (t, i) => `sync {
  default.rsync,
  source = ${lua(source)},
  target = ${lua(locations ? t : `${w.hostNames[i]}:${t}`)},
  delay = 1,
  rsync = { links = true, times = true, perms = true, owner = true, group = true, update = true,
            rsh = ${lua(w.rsh)} },
}`,
  );
  writeFileSync(
    file,
    [
      "settings {",
      `  logfile = ${lua(join(w.dir, `${name}.lsyncd.log`))},`,
      `  statusFile = ${lua(join(w.dir, `${name}.lsyncd.status`))},`,
      "  nodaemon = true,",
      "  maxProcesses = 5,",
      "}",
      ...syncs,
      "",
    ].join("\n"),
  );
  return file;
}

/** Starts lsyncd in the foreground and waits until its startup rsync to every target has finished. */
export async function startLsyncd(config: string, targets: number, timeoutMs: number): Promise<Daemon> {
  const d = startDaemon("/usr/bin/lsyncd", ["-nodaemon", "-log", "Normal", config]);
  // Each sync{} logs "Startup of '<src>' finished." once its initial rsync is done.
  const re = new RegExp(`(Startup of [^\\n]* finished[^]*){${targets}}`);
  try {
    await d.waitFor(re, timeoutMs);
  } catch (e) {
    await d.stop();
    throw e;
  }
  return d;
}
