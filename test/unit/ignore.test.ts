import assert from "node:assert/strict";
import { test } from "node:test";
import { makeMatcher, prunable } from "../../reconciler/core/ignore.js";
import { listCommand } from "../../reconciler/scan/listing.js";
import { fromBytes, relPath } from "../../reconciler/model/paths.js";

const FILE = false;
const DIR = true;
const bytes = (...b: number[]) => fromBytes(Buffer.from(b));
const utf8 = (s: string) => fromBytes(Buffer.from(s, "utf8"));

// [name, patterns, path, isDir, excluded]. Expectations checked against `git check-ignore --no-index`.
const cases: [string, string[], string, boolean, boolean][] = [
  ["glob matches at any depth", ["*.log"], "a/b/x.log", FILE, true],
  ["glob leaves others", ["*.log"], "x.php", FILE, false],
  ["negation re-includes", ["*.log", "!keep.log"], "keep.log", FILE, false],
  ["negation at depth", ["*.log", "!keep.log"], "d/keep.log", FILE, false],
  ["negation leaves the rest excluded", ["*.log", "!keep.log"], "other.log", FILE, true],
  ["dir-only pattern excludes the dir", ["cache/"], "cache", DIR, true],
  ["dir-only pattern spares a file of that name", ["cache/"], "cache", FILE, false],
  ["dir-only pattern excludes what is below", ["cache/"], "cache/x", FILE, true],
  ["dir-only pattern at depth", ["cache/"], "wp-content/cache/a/b", FILE, true],
  ["anchored pattern at root", ["/top"], "top", FILE, true],
  ["anchored pattern not at depth", ["/top"], "sub/top", FILE, false],
  ["pattern with a slash is anchored", ["wp-content/cache/"], "x/wp-content/cache", DIR, false],
  ["pattern with a slash matches from root", ["wp-content/cache/"], "wp-content/cache/f", FILE, true],
  ["double star", ["**/tmp"], "a/b/tmp", DIR, true],
  ["case-sensitive like git on Linux", ["*.log"], "X.LOG", FILE, false],
  ["no re-include below an excluded dir", ["cache/", "!cache/keep"], "cache/keep", FILE, true],
  ["re-include below a dir whose children are excluded", ["cache/*", "!cache/keep"], "cache/keep", FILE, false],
  ["children-only exclusion", ["cache/*", "!cache/keep"], "cache/other", FILE, true],
  ["dotfile dir", [".git/"], ".git/objects/ab", FILE, true],
  ["swap files", ["*.swp"], "wp-config.php.swp", FILE, true],
  ["staging dir always excluded", [], ".tsync-tmp", DIR, true],
  ["inside staging dir always excluded", ["!*"], ".tsync-tmp/x", FILE, true],
  ["staging name below the root is a normal name", [], "a/.tsync-tmp", DIR, false],
  ["root never excluded", ["*"], "", DIR, false],
  ["comment lines ignored", ["# *.php"], "index.php", FILE, false],
  ["newline in a name", ["*.log"], "a\nb.log", FILE, true],
  ["leading dash", ["-*"], "-rf", FILE, true],
  ["non-UTF-8 byte matched by ? (git matches bytes)", ["X?Y"], bytes(0x58, 0xff, 0x59), FILE, true],
  ["two-byte UTF-8 char is two bytes for ?", ["X?Y"], utf8("XéY"), FILE, false],
  ["UTF-8 pattern matches the UTF-8 name", ["café/"], utf8("café"), DIR, true],
  ["dots-only name is a name", ["*.log"], "...", FILE, false],
];

for (const [name, patterns, path, isDir, want] of cases)
  test(`ignore: ${name}`, () => assert.equal(makeMatcher(patterns)(relPath(path), isDir), want));

test("ignore: memo reset keeps answers stable over many calls", () => {
  const m = makeMatcher(["*.log", "!keep.log"]);
  for (let i = 0; i < 250_000; i++) assert.equal(m(relPath(`d${i % 1000}/f${i}.log`), false), true);
  assert.equal(m(relPath("d/keep.log"), false), false);
});

test("prunable: literal directory patterns only, none when any rule negates; the root is never one", () => {
  const cases: [string[], { paths: string[]; names: string[] }][] = [
    [["wp-content/cache/", ".git/", "/tmp", "node_modules"], { paths: ["wp-content/cache", "tmp"], names: [".git", "node_modules"] }],
    [["*.swp", "cache*/", "a/**/b", "[ab]", "a\\ b", "#c", "x y", "é/"], { paths: [], names: [] }],
    [[".", "./", "..", "a/./b", "/"], { paths: [], names: [] }],
    [["cache/", "!cache/keep"], { paths: [], names: [] }],
  ];
  for (const [rules, want] of cases) assert.deepEqual(prunable(rules), want, rules.join(" "));
});

test("listCommand: pruned directories are skipped before find reads them, quoted", () => {
  const cmd = listCommand("/srv/www", { only: false, timeoutSec: 60, prune: { paths: ["wp-content/cache"], names: [".git"] } });
  assert.match(cmd, /find \. \\\( -path '\.\/wp-content\/cache' -o -name '\.git' \\\) -type d -prune -o \\\( -type d/);
  assert.doesNotMatch(listCommand("/srv/www", { only: false, timeoutSec: 60 }), /-prune -o \\\( -type d/);
});
