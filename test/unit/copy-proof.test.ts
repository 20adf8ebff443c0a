// Copies guessed by size+mtime are proven by hashes before a plan is used, or sent (regression: a
// 5,000-file burst written in one timestamp tick copied a neighbour's bytes onto every target).
import { test } from "node:test";
import assert from "node:assert/strict";
import { proveCopies, unprovenCopies } from "../../reconciler/core/copy-proof.js";
import type { Change } from "../../reconciler/model/change.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import type { FileEntry } from "../../reconciler/model/snapshot.js";

const p = (s: string) => s as RelPath;
const T = 1_700_000_000_000;
const f = (hash?: string): FileEntry => ({ kind: "file", size: 11, mode: 0o644, mtimeMs: T, ...(hash ? { hash } : {}) });
const copy = (path: string, from: string, src?: string, donor?: string): Change => ({ kind: "create", path: p(path), after: f(src), from: { path: p(from), entry: f(donor) } });
const H = (c: string) => c.repeat(128);

test("guessed copies are listed for hashing; proven ones, hard links and plain creates are not", () => {
  const changes: Change[] = [
    copy("new", "old"),
    copy("a", "old", H("a")),
    copy("proven", "x", H("b"), H("b")),
    { kind: "create", path: p("link"), after: f(), from: { path: p("leader"), entry: f(), link: true } },
    { kind: "create", path: p("plain"), after: f() },
  ];
  assert.deepEqual(unprovenCopies(changes), { sources: [p("new"), p("a")], donors: [p("old")] });
});

const cases: [string, Change, Map<RelPath, string>, Map<RelPath, string>, Change][] = [
  ["equal hashes: kept, both pinned", copy("n", "o"), new Map([[p("n"), H("a")]]), new Map([[p("o"), H("a")]]), copy("n", "o", H("a"), H("a"))],
  ["the neighbour holds other bytes: sent, source hash pinned", copy("n", "o"), new Map([[p("n"), H("a")]]), new Map([[p("o"), H("b")]]), { kind: "create", path: p("n"), after: f(H("a")) }],
  ["the donor cannot be hashed: sent", copy("n", "o"), new Map([[p("n"), H("a")]]), new Map(), { kind: "create", path: p("n"), after: f(H("a")) }],
  ["the source cannot be hashed: sent", copy("n", "o"), new Map(), new Map([[p("o"), H("a")]]), { kind: "create", path: p("n"), after: f() }],
];
for (const [name, c, hs, hd, want] of cases) test(`proveCopies: ${name}`, () => assert.deepEqual(proveCopies([c], hs, hd), [want]));
