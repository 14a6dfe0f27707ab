// Loaded with `node --import` before every zkclear node script (zkclear.prover._node).
//
// Our scripts live in the installed Python package, where no node_modules folder is
// above them, and ESM imports ignore NODE_PATH. So this registers a resolve hook
// (resolve_hooks.mjs) that looks up their bare imports (`snarkjs`, `circomlibjs`, ...)
// in $ZKCLEAR_NODE_MODULES, the folder zkclear.paths found the pinned packages in.
import { register } from "node:module";

register("./resolve_hooks.mjs", import.meta.url);
