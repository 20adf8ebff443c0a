// The manifest validator is generated at build time (tools/gen-manifest-validator.ts); it must be
// exactly what the schema compiles to today, or `tsync validate` would check yesterday's schema.
import { test } from "node:test";
import assert from "node:assert/strict";
import { currentSource, GENERATED, manifestValidatorSource } from "../../tools/gen-manifest-validator.js";

test("the committed manifest validator is what schemas/manifest.schema.json compiles to", () => {
  assert.ok(currentSource() === manifestValidatorSource(), `${GENERATED} is stale: run \`npm run gen:validator\` and commit it`);
});
