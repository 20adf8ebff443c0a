// The one place the version is read: package.json, which npm publishes with it. The CLI's --version
// and the `tool` field of plan and apply documents both come from here.
import { readFileSync } from "node:fs";
import { packageFile } from "./package-files.js";

export const VERSION: string = (JSON.parse(readFileSync(packageFile("package.json"), "utf8")) as { version: string }).version;
export const TOOL = `tsync ${VERSION}`;
