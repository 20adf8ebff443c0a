// tsync watch: the daemon. Initial apply, then live batches from inotify events plus scheduled audits;
// SIGTERM/SIGINT stop it cleanly, SIGHUP reloads the manifest (a bad one is reported and ignored) and
// reopens the log file (logrotate's postrotate can simply `systemctl reload`).
import { setMaxListeners } from "node:events";
import { openSync, createWriteStream, type WriteStream } from "node:fs";
import { Fleet } from "../../reconciler/run/fleet.js";
import { createSyncEngine } from "../../reconciler/watch/sync-engine.js";
import { runDaemon, createLineLogger } from "../../reconciler/watch/daemon.js";
import { realClock } from "../../reconciler/watch/clock.js";
import { makeMatcher } from "../../reconciler/core/ignore.js";
import { loadManifest } from "../../reconciler/manifest/load.js";
import { nginxForWatch } from "../../reconciler/watch/nginx-follow.js";
import type { Manifest } from "../../reconciler/model/manifest.js";
import { formatDiagnostic } from "../../reconciler/model/diagnostics.js";
import { requireManifest, manifestPath } from "../manifest.js";
import { err, Exit, EXIT, type GlobalOptions } from "../output.js";
import { notifySystemd, readinessStatus } from "../notify.js";
import { controlSocketFor, serveControl, type ControlServer } from "../../reconciler/watch/control.js";
import { filePauseStore, pauseFileFor } from "../../reconciler/watch/pauses.js";
import { serveMetrics, type MetricsServer } from "../../reconciler/watch/metrics.js";
import { holdYoungGeneration } from "../../reconciler/watch/reclaim.js";

/** Opened synchronously so that a log file we cannot write is one line and exit 1, not a crash. */
function openLog(file: string): WriteStream | string {
  try {
    const stream = createWriteStream(file, { fd: openSync(file, "a"), flags: "a" });
    stream.on("error", (e) => process.stderr.write(`tsync watch: log file ${file}: ${e.message}\n`));
    return stream;
  } catch (e) {
    return `tsync watch: cannot open the log file ${file}: ${(e as Error).message}`;
  }
}

export async function watchCommand(opts: GlobalOptions): Promise<void> {
  // A V8 setting for the whole process, which this command owns (reclaim.ts): set before the manifest
  // loads and the walk starts, not inside runDaemon, which tests call in their own processes too.
  holdYoungGeneration();
  const first = requireManifest(opts);
  const logFile = first.settings.logFile;
  let logStream: WriteStream | undefined;
  if (logFile) {
    const s = openLog(logFile);
    if (typeof s === "string") {
      err(s);
      throw new Exit(EXIT.error);
    }
    logStream = s;
  }
  const log = createLineLogger((line) => (logStream ? logStream.write(line + "\n") : process.stderr.write(line + "\n")), {
    verbose: opts.verbose ?? false,
    quiet: opts.quiet ?? false,
  });
  // The running manifest and its connections. A reload swaps both before the daemon starts the new
  // runners, so plans and applies of the new syncs use the new hosts; the old fleet is closed once
  // the old runners have stopped.
  // The control socket and the pauses live next to the status file; without one there is neither.
  const statusFile = first.settings.statusFile;
  const pauses = statusFile ? filePauseStore(pauseFileFor(statusFile)) : undefined;
  try {
    pauses?.load();
  } catch (e) {
    err(`tsync watch: ${(e as Error).message}`);
    throw new Exit(EXIT.error);
  }
  let control: ControlServer | undefined;
  let metrics: MetricsServer | undefined;
  let daemonRef: ReturnType<typeof runDaemon> | undefined;
  const m = first.settings.metrics;
  if (m) {
    try {
      metrics = await serveMetrics(m.host, m.port, () => daemonRef?.status());
    } catch (e) {
      err(`tsync watch: ${(e as Error).message} (settings.metrics in ${first.file})`);
      throw new Exit(EXIT.error);
    }
  }
  if (statusFile) {
    try {
      control = await serveControl(controlSocketFor(statusFile), async (req) => {
        const d = daemonRef!;
        if (req.op === "wait") return d.wait({ timeoutMs: req.timeoutMs, ...(req.syncs ? { syncs: req.syncs } : {}), ...(req.targets ? { targets: req.targets } : {}) });
        if (req.op === "pause") return d.pause(req.what);
        return d.resume(req.what);
      });
    } catch (e) {
      await metrics?.close();
      err(`tsync watch: ${(e as Error).message}`);
      throw new Exit(EXIT.error);
    }
  }
  let current = { manifest: first, fleet: new Fleet(first) };
  const retired: Fleet[] = [];
  const stop = new AbortController();
  // Every running remote command listens on it (one per target at least): not a leak past Node's 10.
  setMaxListeners(0, stop.signal);
  const daemon = runDaemon({
    manifest: first,
    ...(pauses ? { pauses } : {}),
    // The stop signal reaches scans and applies: SIGTERM during a long initial apply stops at the next
    // file boundary instead of finishing it (systemd's TimeoutStopSec would SIGKILL a large one).
    engine: createSyncEngine(() => current.manifest, () => current.fleet, stop.signal, (m) => log("warn", m)),
    signal: stop.signal,
    log,
    matcherFor: (s) => makeMatcher(s.rules.exclude),
    reload: () => {
      const r = loadManifest(manifestPath(opts));
      if (!r.manifest) {
        for (const d of r.diagnostics) log("error", formatDiagnostic(d));
        return r.diagnostics;
      }
      retired.push(current.fleet);
      current = { manifest: r.manifest as Manifest, fleet: new Fleet(r.manifest as Manifest) };
      return r.manifest;
    },
  });
  daemonRef = daemon;
  const nginx = nginxForWatch({
    manifest: () => current.manifest,
    transport: (h: string | undefined) => current.fleet.transport(h),
    status: () => daemon.status(),
    log,
    clock: realClock,
    intervalMs: 5_000,
    stableMs: 30_000,
  });
  const onStop = () => stop.abort();
  const onHup = () => {
    if (logFile && logStream) {
      const s = openLog(logFile);
      if (typeof s === "string") log("error", s);
      else {
        logStream.end();
        logStream = s;
      }
    }
    void daemon
      .reload()
      .then((ok) => (ok && !stop.signal.aborted ? nginx.running(current.manifest) : undefined))
      .finally(() => {
        for (const f of retired.splice(0)) void f.close();
      });
  };
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  process.on("SIGHUP", onHup);
  try {
    await daemon.ready;
    if (!stop.signal.aborted) await nginx.running(current.manifest);
    if (!stop.signal.aborted) {
      const failed = await notifySystemd({ READY: "1", STATUS: readinessStatus(daemon.status()) });
      if (failed) log("warn", failed);
    }
    await daemon.done;
  } finally {
    nginx.stop();
    await control?.close();
    await metrics?.close();
    process.off("SIGTERM", onStop);
    process.off("SIGINT", onStop);
    process.off("SIGHUP", onHup);
    await Promise.allSettled([current.fleet.close(), ...retired.map((f) => f.close())]);
    logStream?.end();
  }
  throw new Exit(EXIT.ok);
}
