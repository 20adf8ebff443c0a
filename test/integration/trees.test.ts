// The independent tree checker must itself be trustworthy: each kind of difference is detected, and
// hostile names map one-to-one onto listing lines.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, chmodSync, unlinkSync, mkdirSync, symlinkSync, utimesSync, existsSync, lstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listTree, assertTreesEqual, treeDifferences, rsyncItemize, makeHostileTree, genTree, wordpressTree, escapeBytes, PWNED_MARKERS } from "../support/trees.js";

function tmp(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), "tsync-trees-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function copy(src: string, dst: string): void {
  execFileSync("cp", ["-a", "--", src, dst]);
}

function unescape(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\" && s[i + 1] === "x") {
      out.push(parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else out.push(s.charCodeAt(i));
  }
  return Buffer.from(out);
}

function base(root: string): void {
  mkdirSync(join(root, "sub"), { recursive: true });
  writeFileSync(join(root, "a.txt"), "hello\n");
  writeFileSync(join(root, "sub/b.txt"), "world\n");
  symlinkSync("a.txt", join(root, "link"));
}

const mutations: [string, (root: string) => void, RegExp][] = [
  ["content change, same size", (r) => writeFileSync(join(r, "a.txt"), "HELLO\n"), /^\+ a\.txt\tf\t644\t6\t/m],
  ["mode change", (r) => chmodSync(join(r, "a.txt"), 0o600), /^\+ a\.txt\tf\t600\t/m],
  ["type change file→dir", (r) => { unlinkSync(join(r, "a.txt")); mkdirSync(join(r, "a.txt")); }, /^\+ a\.txt\td\t/m],
  ["symlink retarget", (r) => { unlinkSync(join(r, "link")); symlinkSync("sub/b.txt", join(r, "link")); }, /^\+ link\tl\t777\t->\tsub\/b\.txt$/m],
  ["missing file", (r) => unlinkSync(join(r, "sub/b.txt")), /^- sub\/b\.txt\tf\t/m],
  ["extra file", (r) => writeFileSync(join(r, "extra"), ""), /^\+ extra\tf\t/m],
];

for (const [name, mutate, want] of mutations) {
  test(`listTree detects: ${name}`, async (t) => {
    const d = tmp(t);
    base(join(d, "a"));
    copy(join(d, "a"), join(d, "b"));
    await assertTreesEqual(join(d, "a"), join(d, "b"), { times: true, dirTimes: true });
    assert.deepEqual(await rsyncItemize(join(d, "a"), join(d, "b")), []);
    mutate(join(d, "b"));
    await assert.rejects(assertTreesEqual(join(d, "a"), join(d, "b")), (e: Error) => {
      assert.match(e.message, want);
      return true;
    });
    assert.notDeepEqual(await rsyncItemize(join(d, "a"), join(d, "b")), []);
  });
}

test("listTree compares mtimes only when asked, at the asked precision", async (t) => {
  const d = tmp(t);
  base(join(d, "a"));
  copy(join(d, "a"), join(d, "b"));
  utimesSync(join(d, "b/a.txt"), 1_700_000_000.2, 1_700_000_000.2);
  utimesSync(join(d, "a/a.txt"), 1_700_000_000.9, 1_700_000_000.9);
  await assertTreesEqual(join(d, "a"), join(d, "b"));
  await assert.rejects(assertTreesEqual(join(d, "a"), join(d, "b"), { times: true }), /a\.txt.*1700000000200ms/s);
  utimesSync(join(d, "b/a.txt"), 1_700_000_000.9, 1_700_000_000.9);
  await assertTreesEqual(join(d, "a"), join(d, "b"), { times: true, timePrecision: "ms" });
});

test("treeDifferences: times equal within tsync's 2 µs even across a rounding boundary; larger gaps show in ns", async (t) => {
  const d = tmp(t);
  base(join(d, "a"));
  copy(join(d, "a"), join(d, "b"));
  // What the flaky watch-ssh burst saw: a source time just above x.5 ms and its copy 0.2 µs lower
  // (f64 milliseconds → Perl utime), printed as "835ms" vs "836ms".
  const touch = (p: string, at: string) => execFileSync("touch", ["-m", "-d", `@${at}`, "--", p]);
  const HELLO = createHash("sha256").update("hello\n").digest("hex");
  touch(join(d, "a/a.txt"), "1700000000.835500100");
  touch(join(d, "b/a.txt"), "1700000000.835499900");
  await assert.rejects(assertTreesEqual(join(d, "a"), join(d, "b"), { times: true, timePrecision: "ms" }), /1700000000836ms/);
  assert.deepEqual(await treeDifferences(join(d, "a"), join(d, "b"), { times: true }), []);
  touch(join(d, "b/a.txt"), "1700000000.835502100");
  assert.deepEqual(await treeDifferences(join(d, "a"), join(d, "b"), { times: true }), [
    `- a.txt\tf\t644\t6\t${HELLO}\t1700000000835500100ns`,
    `+ a.txt\tf\t644\t6\t${HELLO}\t1700000000835502100ns`,
  ]);
});

test("listTree exclude leaves out a subtree", async (t) => {
  const d = tmp(t);
  base(join(d, "a"));
  copy(join(d, "a"), join(d, "b"));
  mkdirSync(join(d, "b/.tsync-tmp"));
  writeFileSync(join(d, "b/.tsync-tmp/x"), "partial");
  await assertTreesEqual(join(d, "a"), join(d, "b"), { exclude: [".tsync-tmp"] });
  await assert.rejects(assertTreesEqual(join(d, "a"), join(d, "b")));
});

test("hostile names round-trip through listTree one-to-one and run nothing", async (t) => {
  for (const m of PWNED_MARKERS) rmSync(m, { force: true });
  const d = tmp(t);
  const names = makeHostileTree(join(d, "a"));
  assert.ok(names.length >= 40, `${names.length} names`);
  const text = await listTree(join(d, "a"));
  const lines = text.split("\n");
  assert.equal(lines.length, names.length, "one line per entry, no name splits a line");
  const listed = lines.map((l) => unescape(l.split("\t")[0]!).toString("latin1")).sort();
  assert.deepEqual(listed, names);
  for (const l of lines) assert.match(l, /^[\x21-\x7e]+(\t[\x21-\x7e]+)+$/, "printable, tab-separated");
  assert.ok(names.some((n) => n.length === 255), "a 255-byte name");
  assert.ok(lines.some((l) => l.startsWith("\\xff\\xfelatin\tf\t")), "non-UTF-8 bytes escaped");
  assert.ok(lines.some((l) => l.startsWith("private\tf\t600\t")));
  assert.ok(lines.some((l) => l.startsWith("exec.sh\tf\t755\t")));
  copy(join(d, "a"), join(d, "b"));
  await assertTreesEqual(join(d, "a"), join(d, "b"), { times: true, owner: true });
  assert.deepEqual(await rsyncItemize(join(d, "a"), join(d, "b")), []);
  // Two names differing only in a byte that a careless escaper would drop must stay distinct.
  assert.notEqual(escapeBytes(Buffer.from("a\nb")), escapeBytes(Buffer.from("a\\nb")));
  for (const m of PWNED_MARKERS) assert.equal(existsSync(m), false, `${m} was created`);
});

test("genTree is deterministic and seed-sensitive", async (t) => {
  const d = tmp(t);
  const o = { files: 300, dirs: 40, size: [100, 20_000] as const, seed: 7, mtime: 1_700_000_000 };
  const r = genTree(join(d, "a"), o);
  genTree(join(d, "b"), o);
  genTree(join(d, "c"), { ...o, seed: 8 });
  assert.equal(r.files, 300);
  await assertTreesEqual(join(d, "a"), join(d, "b"), { times: true });
  await assert.rejects(assertTreesEqual(join(d, "a"), join(d, "c")));
  const lines = (await listTree(join(d, "a"))).split("\n");
  assert.equal(lines.filter((l) => l.split("\t")[1] === "f").length, 300);
  assert.equal(lines.filter((l) => l.split("\t")[1] === "d").length, 40);
});

test("wordpressTree: the real package when apt works, else a same-shape tree", async (t) => {
  const d = tmp(t);
  const info = await wordpressTree(join(d, "wp"));
  t.diagnostic(`wordpressTree: ${info.origin} ${info.version ?? ""} ${info.note ?? ""} in ${info.ms} ms`);
  const lines = (await listTree(join(d, "wp"))).split("\n");
  const files = lines.filter((l) => l.split("\t")[1] === "f").length;
  assert.ok(files >= 2000, `${files} files`);
  if (info.origin === "debian-package") {
    assert.ok(lstatSync(join(d, "wp/wp-includes/js/underscore.js")).isSymbolicLink(), "symlinks kept as packaged");
    assert.ok(existsSync(join(d, "wp/wp-admin/index.php")));
  }
});

test("wordpressTree falls back to a same-shape generated tree, and says why", async (t) => {
  const d = tmp(t);
  writeFileSync(join(d, "not-a-dir"), "");
  const info = await wordpressTree(join(d, "wp"), join(d, "not-a-dir/cache"));
  assert.equal(info.origin, "generated");
  assert.match(info.note ?? "", /ENOTDIR/);
  const lines = (await listTree(join(d, "wp"))).split("\n");
  assert.equal(lines.filter((l) => l.split("\t")[1] === "f").length, 3000);
  assert.equal(lines.filter((l) => l.split("\t")[1] === "d").length, 400);
});
