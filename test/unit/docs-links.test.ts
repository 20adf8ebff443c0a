// A fresh clone has no ../shared: every relative link in the README and docs/ must resolve inside the repository.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

test("relative links in README.md and docs/*.md point at files of the repository", () => {
  const docs = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  for (const doc of docs) {
    for (const [, target] of readFileSync(join(ROOT, doc), "utf8").matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const file = join(ROOT, dirname(doc), target!);
      if (!existsSync(file) || relative(ROOT, file).startsWith("..")) broken.push(`${doc}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});
