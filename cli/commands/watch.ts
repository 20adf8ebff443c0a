// tsync watch: the daemon. Initial apply, then live batches from inotify events plus scheduled audits;
// SIGTERM/SIGINT stop it cleanly, SIGHUP reloads the manifest (a bad one is reported and ignored).
import { createWriteStream } from "node:fs";
import { Fleet } from "../../reconciler/fleet.js";
import { createSyncEngine } from "../../reconciler/sync-engine.js";
import { runDaemon, createLineLogger } from "../../reconciler/watch/daemon.js";
import { realClock } from "../../reconciler/watch/clock.js";
import { makeMatcher } from "../../reconciler/ignore.js";
import { loadManifest } from "../../reconciler/manifest/load.js";
import { followRouting } from "../../reconciler/nginx/follow.js";
import type { Manifest } from "../../reconciler/manifest/model.js";
import { formatDiagnostic } from "../../reconciler/diagnostics.js";
import { requireManifest, manifestPath } from "../manifest.js";
import { Exit, EXIT, type GlobalOptions } from "../output.js";

export async function watchCommand(opts: GlobalOptions): Promise<void> {
  let manifest = requireManifest(opts);
  const logStream = manifest.settings.logFile ? createWriteStream(manifest.settings.logFile, { flags: "a" }) : undefined;
  const log = createLineLogger((line) => (logStream ? logStream.write(line + "\n") : process.stderr.write(line + "\n")), {
    verbose: opts.verbose ?? false,
    quiet: opts.quiet ?? false,
  });
  const stop = new AbortController();
  const fleet = new Fleet(manifest);
  const daemon = runDaemon({
    manifest,
    engine: createSyncEngine(manifest, fleet),
    signal: stop.signal,
    log,
    matcherFor: (s) => makeMatcher(s.rules.exclude),
    reload: () => {
      const r = loadManifest(manifestPath(opts));
      if (!r.manifest) {
        for (const d of r.diagnostics) log("error", formatDiagnostic(d));
        return r.diagnostics;
      }
      return r.manifest;
    },
  });
  const routing =
    manifest.nginx?.drifted === "down"
      ? followRouting({
          manifest: () => manifest,
          transport: (h) => fleet.transport(h),
          status: () => daemon.status(),
          log,
          clock: realClock,
          intervalMs: 5_000,
          stableMs: 30_000,
        })
      : undefined;
  const onStop = () => stop.abort();
  const onHup = () => {
    void daemon.reload().then((ok) => {
      if (ok) {
        const r = loadManifest(manifestPath(opts));
        if (r.manifest) manifest = r.manifest as Manifest;
      }
    });
  };
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  process.on("SIGHUP", onHup);
  try {
    await daemon.ready;
    if (manifest.nginx) await (routing ?? followRouting({ manifest: () => manifest, transport: (h) => fleet.transport(h), status: () => daemon.status(), log, clock: realClock, intervalMs: 1 << 30, stableMs: 0 })).deploy();
    await daemon.done;
  } finally {
    routing?.stop();
    process.off("SIGTERM", onStop);
    process.off("SIGINT", onStop);
    process.off("SIGHUP", onHup);
    await fleet.close();
    logStream?.end();
  }
  throw new Exit(EXIT.ok);
}
