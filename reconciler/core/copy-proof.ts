// A copy source picked by rsync's quick check (equal size and mtime) is only a guess: files written in
// one timestamp tick share size and mtime with different bytes (a 5,000-file burst once copied a
// neighbour's 11 bytes into a new file on every target). Before a plan is used, each guessed copy is
// proven by the hashes of both sides, or the file is sent instead. Pure; the caller does the hashing.
import type { Change } from "../model/change.js";
import type { RelPath } from "../model/paths.js";

type Copy = Extract<Change, { kind: "create" }> & { readonly from: NonNullable<Extract<Change, { kind: "create" }>["from"]> };

/** A create copied on the target whose bytes no pair of hashes has shown equal (hard links are by inode, not content). */
function guessed(c: Change): c is Copy {
  if (c.kind !== "create" || c.from === undefined || c.from.link) return false;
  return c.after.hash === undefined || c.from.entry.hash === undefined || c.after.hash !== c.from.entry.hash;
}

/** The source paths and target donor paths to hash before the guessed copies can be trusted. */
export function unprovenCopies(changes: readonly Change[]): { readonly sources: RelPath[]; readonly donors: RelPath[] } {
  const copies = changes.filter(guessed);
  return { sources: copies.map((c) => c.path), donors: [...new Set(copies.map((c) => c.from.path))] };
}

/** Keeps a guessed copy only when both hashes are known and equal (and pins them); otherwise the file is sent. */
export function proveCopies(changes: readonly Change[], sourceHashes: ReadonlyMap<RelPath, string>, donorHashes: ReadonlyMap<RelPath, string>): Change[] {
  return changes.map((c) => {
    if (!guessed(c)) return c;
    const src = c.after.hash ?? sourceHashes.get(c.path);
    const donor = c.from.entry.hash ?? donorHashes.get(c.from.path);
    const { from, ...send } = c;
    if (src === undefined || donor === undefined || src !== donor) return src === undefined ? send : { ...send, after: { ...c.after, hash: src } };
    return { ...c, after: { ...c.after, hash: src }, from: { ...from, entry: { ...from.entry, hash: donor } } };
  });
}
