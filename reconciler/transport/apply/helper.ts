// Loads the target-side half of apply, helper.pl, and turns it into one shell-safe command. The Perl
// is a plain file shipped with the package (package.json "files"); tsc does not copy it, so it is
// read from the source tree: reconciler/transport/apply/helper.pl (the same layout in a checkout and
// in the npm package).
import { readFileSync } from "node:fs";
import { packageFile } from "../../model/package-files.js";
import { WIRE } from "./protocol.js";

const HELPER_PL = packageFile("reconciler/transport/apply/helper.pl");

/** WIRE as Perl constants: strings travel hex-encoded, so no byte of them is Perl syntax. */
function perlConstants(): string {
  return Object.entries(WIRE)
    .map(([name, v]) =>
      typeof v === "number" ? `use constant ${name} => ${v};` : `use constant ${name} => pack('H*', '${Buffer.from(v, "latin1").toString("hex")}');`,
    )
    .join("\n");
}

/** The whole program; `#line` makes Perl's messages name helper.pl's own line numbers. */
export const APPLY_SCRIPT = `${perlConstants()}\n#line 1 "helper.pl"\n${readFileSync(HELPER_PL, "utf8")}`;

function toHex(s: string): string {
  return Buffer.from(s, "utf8").toString("hex");
}

/**
 * Runs the helper under any login shell (sh, bash, csh, fish): the script travels hex-encoded, so
 * the command has no quotes, newlines or metacharacters for a shell to interpret.
 */
export const APPLY_COMMAND = `exec perl -e 'eval pack q(H*),q(${toHex(APPLY_SCRIPT)});die $@ if $@'`;
