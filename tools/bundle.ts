// `node dist/tools/bundle.js`, after tsc: the `tsync` command as one file, dist/tsync.js. Node 20
// resolves, reads and compiles every module file separately, ~215 of them for an SSH plan (yaml alone
// is 72), and that was a third of a small run's CPU (bench/ANALYSIS.md section 1). The bundle is the
// same compiled code, in one file. What stays outside: ssh2 and node-ssh (loaded on the first SSH
// login, ssh2-lib.ts), wasmoon (loads its .wasm beside itself; only `import lsyncd` runs it), and
// the two worker entry points, which run from dist/ (model/package-files.ts).
import { build } from "esbuild";
import { chmodSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../", import.meta.url));

await build({
  entryPoints: [`${dist}cli/main.js`],
  outfile: `${dist}tsync.js`,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["ssh2", "node-ssh", "wasmoon", "cpu-features"],
  // CommonJS dependencies (yaml, commander, ...) call require() for Node's own modules.
  banner: { js: 'import { createRequire as __tsyncCreateRequire } from "node:module"; const require = __tsyncCreateRequire(import.meta.url);' },
  legalComments: "none",
  logLevel: "warning",
});
// Run as the file itself, like the installed bin, so its first line (cli/main.ts) takes effect.
chmodSync(`${dist}tsync.js`, 0o755);
