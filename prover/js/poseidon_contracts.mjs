#!/usr/bin/env node
// Print the EVM bytecode and ABI of circomlib's Poseidon(n) for n = 1..6 as one JSON
// object on stdout: {"generator", "circomlibjs", "contracts": {"<n>": {"abi", "bytecode"}}}.
//
// Usage:  node prover/js/poseidon_contracts.mjs
//
// The bytecode comes from circomlibjs's own generator (src/poseidon_gencontract.js), the
// same constants as circomlib's Poseidon template and zkclear.poseidon; the contracts'
// only function is `poseidon(uint256[n]) pure returns (uint256)` (also callable as
// `poseidon(bytes32[n])`). zkclear.chain.contracts runs this once per circomlibjs version and
// caches the output under build/contracts/; the tests check every arity against Python.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { poseidonContract } from "circomlibjs";

// circomlibjs's entry (main.js) sits next to its package.json.
const LIB = path.join(path.dirname(fileURLToPath(import.meta.resolve("circomlibjs"))), "package.json");
const VERSION = JSON.parse(fs.readFileSync(LIB, "utf8")).version;

const contracts = {};
for (let n = 1; n <= 6; n++) {
  contracts[String(n)] = {
    abi: poseidonContract.generateABI(n),
    bytecode: poseidonContract.createCode(n),
  };
}
process.stdout.write(JSON.stringify({
  generator: "circomlibjs/src/poseidon_gencontract.js createCode(n)",
  circomlibjs: VERSION,
  contracts,
}) + "\n");
