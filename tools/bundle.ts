// `node dist/tools/bundle.js`, after tsc: the `tsync` command as one file, dist/tsync-main.cjs, and
// its launcher dist/tsync.js (cli/launch.ts). Node 20 resolves, reads and compiles every module file
// separately, ~215 of them for an SSH plan (yaml alone is 72), and that was a third of a small run's
// CPU (bench/ANALYSIS.md section 1). The bundle is the same compiled code, in one file, CommonJS so
// that the launcher can run it from a V8 code cache (made below). What stays outside: ssh2 and
// node-ssh, bundled on their own into dist/ssh-libs.cjs and loaded on the first SSH login
// (ssh2-lib.ts), wasmoon (loads its .wasm beside itself; only `import lsyncd` runs it), and the two
// worker entry points, which run from dist/ (model/package-files.ts).
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { chmodSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../", import.meta.url));

await build({
  entryPoints: [`${dist}cli/main.js`],
  outfile: `${dist}tsync-main.cjs`,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["ssh2", "node-ssh", "wasmoon", "cpu-features"],
  // The modules find the package's files from their own URL (model/package-files.ts).
  banner: { js: 'const __tsyncModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { TSYNC_SSH_LIBS: JSON.stringify("./ssh-libs.cjs"), "import.meta.url": "__tsyncModuleUrl" },
  legalComments: "none",
  logLevel: "warning",
});

await build({
  entryPoints: [`${dist}cli/launch.js`],
  outfile: `${dist}tsync.js`,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  legalComments: "none",
  logLevel: "warning",
});

// ssh2 and node-ssh as one CommonJS file. ssh2's optional native crypto and cpu-features stay where
// npm built them (ssh2 falls back to its JavaScript and WebAssembly code when they are absent).
await build({
  stdin: { contents: 'module.exports = { ssh2: require("ssh2"), nodeSsh: require("node-ssh") };', resolveDir: dist, loader: "js" },
  outfile: `${dist}ssh-libs.cjs`,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["cpu-features"],
  plugins: [
    {
      name: "ssh2-native-binding",
      setup(b) {
        // ssh2/lib/protocol/crypto.js: require('./crypto/build/Release/sshcrypto.node'), in a try.
        b.onResolve({ filter: /sshcrypto\.node$/ }, (a) => ({ path: `ssh2/lib/protocol/${a.path.replace(/^\.\//, "")}`, external: true }));
      },
    },
  ],
  legalComments: "none",
  logLevel: "warning",
});
// Run as the file itself, like the installed bin, so its first line (cli/launch.ts) takes effect.
chmodSync(`${dist}tsync.js`, 0o755);

// The code cache: what V8 compiled of the bundle by the end of a `tsync validate` (start-up, the
// command line, the manifest). A failure here leaves no cache, and tsync compiles the bundle as usual.
rmSync(`${dist}tsync-main.cjs.cache`, { force: true });
const seed = fileURLToPath(new URL("../../fixtures/seed/tsync.yaml", import.meta.url));
const run = spawnSync(process.execPath, [`${dist}tsync.js`, "validate", "-f", seed], { env: { ...process.env, TSYNC_WRITE_CODE_CACHE: "1" }, stdio: "inherit" });
if (run.status !== 0) console.warn(`bundle: no code cache (tsync validate of ${seed} exited ${run.status ?? run.signal})`);
