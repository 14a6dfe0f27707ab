// Module resolve hook (registered by resolve.mjs): a bare import made by one of the
// scripts in this folder resolves in $ZKCLEAR_NODE_MODULES when it is set; everything
// else (relative imports, node: builtins, imports made inside the node packages)
// resolves as usual. Without the variable (a script run by hand in a checkout), node's
// own lookup finds the repository's node_modules above this folder.
import path from "node:path";
import { pathToFileURL } from "node:url";

const NODE_MODULES = process.env.ZKCLEAR_NODE_MODULES;
const OURS = new URL("./", import.meta.url).href;
// Resolving from a file inside node_modules searches node_modules itself.
const ANCHOR = NODE_MODULES
  ? pathToFileURL(path.join(path.resolve(NODE_MODULES), "zkclear-resolve-anchor.mjs")).href
  : null;

function isBare(specifier) {
  return !/^(\.{0,2}\/|[A-Za-z][A-Za-z0-9+.-]*:|#)/.test(specifier);
}

export async function resolve(specifier, context, nextResolve) {
  if (ANCHOR && isBare(specifier) && context.parentURL?.startsWith(OURS)) {
    return nextResolve(specifier, { ...context, parentURL: ANCHOR });
  }
  return nextResolve(specifier, context);
}
