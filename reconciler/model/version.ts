// The one place the version is read: package.json, which npm publishes with it. The CLI's --version
// and the `tool` field of plan and apply documents both come from here.
import { createRequire } from "node:module";

export const VERSION: string = (createRequire(import.meta.url)("../../../package.json") as { version: string }).version;
export const TOOL = `tsync ${VERSION}`;
