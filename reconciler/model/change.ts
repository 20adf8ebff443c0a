// One step of a plan. `before` is what the target had when planned (apply refuses when the target no
// longer matches it); `after` is what it will have. Kinds are a closed set (SPEC §3, plus `touch`),
// described once in CHANGE_KINDS: every predicate, view and counter reads that table.
import type { Entry, DirEntry, FileEntry, SymlinkEntry } from "./snapshot.js";
import type { RelPath } from "./paths.js";

/** A target file whose content a create copies (see Change "create"). */
export interface CopySource {
  readonly path: RelPath;
  readonly entry: FileEntry;
  /** Hard-link `path` instead of copying its bytes (preserve hardlinks): the two names become one inode. */
  readonly link?: boolean;
}

export type Change =
  /** A directory appears (`before` set when it replaces a non-directory, which is removed first). */
  | { readonly kind: "mkdir"; readonly path: RelPath; readonly before?: Entry; readonly after: DirEntry }
  /**
   * A file appears (`before` set when it replaces a symlink/dir removed earlier in the plan). With
   * `from`, the target already holds identical content at `from.path` (a file this plan deletes
   * later, or leaves alone): apply copies it there on the target instead of sending it. `from.entry`
   * is that file as the plan saw it on the target; the copy is refused (stale) when it no longer matches.
   * With `from.link` the name is hard-linked to `from.path` (preserve hardlinks); `before` may then be
   * a separate copy of the same file, which the link atomically replaces.
   */
  | { readonly kind: "create"; readonly path: RelPath; readonly before?: Entry; readonly after: FileEntry; readonly from?: CopySource }
  /** A file's content changes. */
  | { readonly kind: "update"; readonly path: RelPath; readonly before: FileEntry; readonly after: FileEntry }
  /** A symlink appears or is retargeted (`before` set when it replaces something). */
  | { readonly kind: "symlink"; readonly path: RelPath; readonly before?: Entry; readonly after: SymlinkEntry }
  /** Metadata only: permission bits, owner/group, or times. */
  | { readonly kind: "chmod" | "chown" | "touch"; readonly path: RelPath; readonly before: Entry; readonly after: Entry }
  | { readonly kind: "delete"; readonly path: RelPath; readonly before: Entry }
  | { readonly kind: "rmdir"; readonly path: RelPath; readonly before: DirEntry };

/** Where a change counts in the summary line "N to add, N to change, N to delete". */
export type Bucket = "add" | "change" | "delete";

export interface KindTraits {
  readonly bucket: Bucket;
  /** The bucket when the change replaces an existing entry (`before` set): a retargeted symlink is a change. */
  readonly replacingBucket: Bucket;
  /** The plan JSON `action` (schemas/plan.schema.json). */
  readonly wire: string;
  /** The target ends up with a regular file holding source bytes (sent, or copied on the target). */
  readonly writesFile: boolean;
  /** Takes something away from the target: what maxDelete counts. */
  readonly removes: boolean;
  /** The target path becomes a directory (views append "/"). */
  readonly dir: boolean;
}

export const CHANGE_KINDS: { readonly [K in Change["kind"]]: KindTraits } = {
  mkdir:   { bucket: "add",    replacingBucket: "add",    wire: "mkdir",   writesFile: false, removes: false, dir: true },
  create:  { bucket: "add",    replacingBucket: "add",    wire: "create",  writesFile: true,  removes: false, dir: false },
  update:  { bucket: "change", replacingBucket: "change", wire: "update",  writesFile: true,  removes: false, dir: false },
  symlink: { bucket: "add",    replacingBucket: "change", wire: "symlink", writesFile: false, removes: false, dir: false },
  chmod:   { bucket: "change", replacingBucket: "change", wire: "chmod",   writesFile: false, removes: false, dir: false },
  chown:   { bucket: "change", replacingBucket: "change", wire: "chown",   writesFile: false, removes: false, dir: false },
  touch:   { bucket: "change", replacingBucket: "change", wire: "touch",   writesFile: false, removes: false, dir: false },
  delete:  { bucket: "delete", replacingBucket: "delete", wire: "delete",  writesFile: false, removes: true,  dir: false },
  rmdir:   { bucket: "delete", replacingBucket: "delete", wire: "rmdir",   writesFile: false, removes: true,  dir: true },
};

export type WritesFile = Extract<Change, { kind: "create" | "update" }>;

/** A create or update: the target gets a file with the source's bytes. */
export function writesFile(c: Change): c is WritesFile {
  return CHANGE_KINDS[c.kind].writesFile;
}

/** A delete or rmdir. */
export function removes(c: Change): c is Extract<Change, { kind: "delete" | "rmdir" }> {
  return CHANGE_KINDS[c.kind].removes;
}

/** A change that puts a new entry where another kind of entry was (a file where a symlink was, ...). */
export function replacesOtherKind(c: Change): boolean {
  return (c.kind === "mkdir" || c.kind === "create" || c.kind === "symlink") && c.before !== undefined && c.before.kind !== c.after.kind;
}

export function changeBucket(c: Change): Bucket {
  const t = CHANGE_KINDS[c.kind];
  return c.before !== undefined ? t.replacingBucket : t.bucket;
}

const FROM_WIRE = new Map(Object.entries(CHANGE_KINDS).map(([kind, t]) => [t.wire, kind as Change["kind"]]));

/** The internal kind of a plan JSON action; undefined for an action this version does not know. */
export function kindFromWire(action: string): Change["kind"] | undefined {
  return FROM_WIRE.get(action);
}
