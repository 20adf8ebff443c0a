// What a target's root and login allow, decided once per target before it is planned or written:
// a symlinked root is followed (or refused: followRoot: false) the same way by plan and apply, and
// owner changes the login cannot make are refused at plan time, not half-done by apply.
import { TransportError } from "../model/errors.js";
import type { Location, Sync, SyncRules } from "../model/manifest.js";
import type { Entry, Snapshot } from "../model/snapshot.js";
import type { RelPath } from "../model/paths.js";
import type { RootProbe, Transport } from "../transport/types.js";

export function chownSpec(sync: Sync): string | undefined {
  const c = sync.chown;
  return c ? `${c.user ?? ""}${c.group !== undefined ? `:${c.group}` : ""}` : undefined;
}

/** The target's probe; a symlinked root under followRoot: false throws, naming the path and the option. */
export async function probeTarget(t: Transport, sync: Sync, target: Location, signal?: AbortSignal): Promise<RootProbe> {
  const probe = await t.probeRoot(target.path, sync.chown, signal);
  if (probe.link !== undefined && sync.followRoot === false) {
    throw new TransportError(
      t.host,
      "root-symlink",
      `target root ${target.path} is a symlink to ${probe.link}; sync ${sync.name} has followRoot: false, so it is refused (followRoot: true would sync into ${probe.path})`,
    );
  }
  return probe;
}

/** Why this target's changes may not be applied by this login (owners it cannot set), or undefined. */
export function privilegeRefusal(sync: Sync, probe: RootProbe, host: string): string | undefined {
  const chown = chownSpec(sync);
  if (chown !== undefined && probe.owner?.unknown !== undefined) return `chown: ${chown} in sync ${sync.name}: no ${probe.owner.unknown} on ${host}; nothing was changed on this target`;
  if (probe.privileged) return undefined;
  const p = sync.rules.preserve;
  const needs = chown !== undefined ? `chown: ${chown}` : p.owner || p.group ? `preserve: [${[p.owner ? "owner" : "", p.group ? "group" : ""].filter(Boolean).join(", ")}]` : undefined;
  if (needs === undefined) return undefined;
  return `${needs} in sync ${sync.name} needs root on ${host}, and the login there is not root and has no sudo: true; nothing was changed on this target (set sudo: true or user: root for ${host}, or drop ${needs.split(":")[0]})`;
}

/** The rules a target is planned under: a chown compares (and sets) the owner/group it names. */
export function targetRules(sync: Sync): SyncRules {
  const c = sync.chown;
  if (!c) return sync.rules;
  const p = sync.rules.preserve;
  return { ...sync.rules, preserve: { ...p, owner: p.owner || c.user !== undefined, group: p.group || c.group !== undefined } };
}

/** The source as this target should end up: with a chown, every entry carries the target's ids. */
export function sourceForTarget(src: Snapshot, probe: RootProbe | undefined): Snapshot {
  const o = probe?.owner;
  if (!o || (o.uid === undefined && o.gid === undefined)) return src;
  const out = new Map<RelPath, Entry>();
  for (const [path, e] of src) {
    out.set(path, e.kind === "problem" ? e : { ...e, ...(o.uid !== undefined ? { uid: o.uid } : {}), ...(o.gid !== undefined ? { gid: o.gid } : {}) });
  }
  return out;
}
