// zkclear solc runner: compile a Solidity standard-JSON input with the pinned solcjs.
//
// Usage:  node solc.mjs [--with-version] [INPUT.json]      (stdin when INPUT is omitted)
//
// Prints solc's standard-JSON output on stdout, exactly as `solc --standard-json` would.
// With --with-version it prints {"version": solc.version(), "output": <standard JSON>}
// instead, so the caller can check the compiler that actually ran against the pin in the
// same process start (loading soljson costs ~0.7 s; a second node run just for the
// version would double that).
//
// No import callback is installed on purpose: the caller passes every source, so the
// Python side's cache key (a hash of the input) covers everything the output depends on.
// A missing import therefore shows up as solc's own "File import callback not supported".
//
// Compiler errors are *not* a process failure: they come back inside the output's
// "errors" list, for the caller to format. A non-zero exit means the runner itself broke
// (unreadable input, malformed JSON, solc missing).
import { readFileSync } from "node:fs";

// Imported, not required: the import finds solc in $ZKCLEAR_NODE_MODULES (resolve.mjs).
const { default: solc } = await import("solc");

const args = process.argv.slice(2);
const withVersion = args.includes("--with-version");
const files = args.filter((a) => a !== "--with-version");
if (files.length > 1) {
  process.stderr.write("usage: node solc.mjs [--with-version] [INPUT.json]\n");
  process.exit(2);
}

// fd 0 reads all of stdin synchronously, also when it is a pipe.
const raw = readFileSync(files.length ? files[0] : 0, "utf8");
try {
  JSON.parse(raw);
} catch (e) {
  process.stderr.write(`solc.mjs: input is not JSON: ${e.message}\n`);
  process.exit(2);
}

const output = solc.compile(raw);
if (withVersion) {
  process.stdout.write(`{"version":${JSON.stringify(solc.version())},"output":${output}}\n`);
} else {
  process.stdout.write(output + "\n");
}
