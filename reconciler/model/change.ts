// One step of a plan. `before` is what the target had when planned (apply refuses when the target no
// longer matches it); `after` is what it will have. Kinds are a closed set (SPEC §3, plus `touch`).
import type { Entry, DirEntry, FileEntry, SymlinkEntry } from "./snapshot.js";
import type { RelPath } from "./paths.js";

/** A target file whose content a create copies (see Change "create"). */
export interface CopySource {
  readonly path: RelPath;
  readonly entry: FileEntry;
}

export type Change =
  /** A directory appears (`before` set when it replaces a non-directory, which is removed first). */
  | { readonly kind: "mkdir"; readonly path: RelPath; readonly before?: Entry; readonly after: DirEntry }
  /**
   * A file appears (`before` set when it replaces a symlink/dir removed earlier in the plan). With
   * `from`, the target already holds identical content at `from.path` (a file this plan deletes
   * later, or leaves alone): apply copies it there on the target instead of sending it. `from.entry`
   * is that file as the plan saw it on the target; the copy is refused (stale) when it no longer matches.
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
