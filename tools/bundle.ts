// `node dist/tools/bundle.js`, after tsc: the `tsync` command as one file, dist/tsync.js. Node 20
// resolves, reads and compiles every module file separately, ~215 of them for an SSH plan (yaml alone
// is 72), and that was a third of a small run's CPU (bench/ANALYSIS.md section 1). The bundle is the
// same compiled code, in one file. What stays outside: ssh2 and node-ssh, bundled on their own into
// dist/ssh-libs.cjs and loaded on the first SSH login (ssh2-lib.ts), wasmoon (loads its .wasm beside
// itself; only `import lsyncd` runs it), and the two worker entry points, which run from dist/
// (model/package-files.ts).
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
  define: { TSYNC_SSH_LIBS: JSON.stringify("./ssh-libs.cjs") },
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
// Run as the file itself, like the installed bin, so its first line (cli/main.ts) takes effect.
chmodSync(`${dist}tsync.js`, 0o755);
