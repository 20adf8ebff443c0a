// The ids of a sync's `chown` names as one host's user and group databases answer them.
import type { RootProbe } from "./types.js";

/** The looked-up ids of a chown spec; an empty answer means the name does not exist on that host. */
export function ownerIds(chown: { readonly user?: string; readonly group?: string }, uid: string, gid: string): NonNullable<RootProbe["owner"]> {
  const missing = [chown.user !== undefined && !/^\d+$/.test(uid) ? `user ${chown.user}` : "", chown.group !== undefined && !/^\d+$/.test(gid) ? `group ${chown.group}` : ""].filter(Boolean);
  return {
    ...(chown.user !== undefined && /^\d+$/.test(uid) ? { uid: Number(uid) } : {}),
    ...(chown.group !== undefined && /^\d+$/.test(gid) ? { gid: Number(gid) } : {}),
    ...(missing.length > 0 ? { unknown: missing.join(" and ") } : {}),
  };
}

