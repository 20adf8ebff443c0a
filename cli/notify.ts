// sd_notify(3) for the Type=notify unit (deploy/tsync-watch.service): READY=1 once the initial apply is
// done, so `systemctl start` means "in sync". Node has no unix datagram sockets, so systemd-notify, a
// child, sends the datagram (the unit sets NotifyAccess=all). Without --no-block it waits until the
// manager has read the message, so the message is attributed to the unit although its sender exits
// right after (systemd-notify(1)).
import { execFile } from "node:child_process";
import type { StatusDoc } from "../reconciler/watch/status.js";

/** The STATUS= line `systemctl status` shows: how many targets are in sync after the initial apply. */
export function readinessStatus(doc: StatusDoc): string {
  const targets = doc.syncs.flatMap((s) => s.targets);
  const inSync = targets.filter((t) => t.state === "in-sync").length;
  const rest = targets.length - inSync;
  return `initial apply done: ${inSync} of ${targets.length} targets in sync` + (rest > 0 ? ` (${rest} retried in the background; see tsync status)` : "") + "; live sync running";
}

/** Nothing unless systemd asked ($NOTIFY_SOCKET); a failure to notify is returned as one line, not thrown. */
export function notifySystemd(vars: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve(undefined);
  const args = Object.entries(vars).map(([k, v]) => `${k}=${v.replace(/\n/g, " ")}`);
  return new Promise((resolve) => {
    execFile("systemd-notify", args, { env, timeout: 30_000 }, (e, _stdout, stderr) => {
      resolve(e ? `cannot signal readiness to systemd (systemd-notify: ${String(stderr).trim() || e.message})` : undefined);
    });
  });
}
