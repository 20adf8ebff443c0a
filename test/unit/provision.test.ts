import { test } from "node:test";
import assert from "node:assert/strict";
import { missingTools, TOOLS } from "../support/provision.js";

test("missingTools reports absent tools, by absolute path and by PATH lookup", () => {
  const fake = [
    { name: "nope", path: "/nonexistent/tsync/nope", pkg: "nope-pkg" },
    { name: "sh", path: "sh", pkg: "dash" },
    { name: "no-such-cmd", path: "tsync-no-such-cmd-xyz", pkg: "x" },
  ];
  assert.deepEqual(missingTools(fake).map((t) => t.name), ["nope", "no-such-cmd"]);
});

test("the tool list covers what the integration tests run", () => {
  const names = TOOLS.map((t) => t.name);
  for (const n of ["sshd", "ssh-keygen", "nginx", "rsync", "perl", "b2sum", "systemd-analyze", "systemd-notify", "python3"]) assert.ok(names.includes(n), n);
});
