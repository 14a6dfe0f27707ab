#!/usr/bin/env node
// Generate tests/vectors/poseidon_circomlibjs.json: Poseidon known answers from circomlibjs.
//
// Usage (from the repository root):  node scripts/gen_poseidon_vectors.mjs
//
// Every case is hashed by circomlibjs's buildPoseidon() (the wasm one), and by
// buildPoseidonOpt() and buildPoseidonReference() (plain constants); the script stops if
// they disagree.  "Random" inputs are sha256("zkclear-poseidon/<label>/<i>") mod r, so
// the file is reproducible.  poseidon_chain cases compose circomlibjs calls as
// zkclear.poseidon.poseidon_chain defines (first 6 values, then chunks of 5 with the
// running value in front).  All numbers are decimal strings.

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildPoseidon, buildPoseidonOpt, buildPoseidonReference } from "circomlibjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT = path.join(ROOT, "tests", "vectors", "poseidon_circomlibjs.json");
const LIB = path.join(ROOT, "node_modules", "circomlibjs", "package.json");
const VERSION = JSON.parse(fs.readFileSync(LIB, "utf8")).version;

const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const MAX_INPUTS = 6;
const CHAIN_CHUNK = MAX_INPUTS - 1;

const hashers = {
  wasm: await buildPoseidon(),
  opt: await buildPoseidonOpt(),
  reference: await buildPoseidonReference(),
};

function hash(inputs) {
  const results = Object.entries(hashers).map(([name, h]) => [name, h.F.toObject(h(inputs))]);
  for (const [name, r] of results) {
    if (r !== results[0][1]) {
      throw new Error(`circomlibjs ${name} disagrees with ${results[0][0]} on [${inputs}]`);
    }
  }
  return results[0][1];
}

function chain(values) {
  let acc = hash(values.slice(0, MAX_INPUTS));
  for (let i = MAX_INPUTS; i < values.length; i += CHAIN_CHUNK) {
    acc = hash([acc, ...values.slice(i, i + CHAIN_CHUNK)]);
  }
  return acc;
}

function randomElements(label, n) {
  return Array.from({ length: n }, (_, i) => {
    const digest = crypto.createHash("sha256").update(`zkclear-poseidon/${label}/${i}`).digest("hex");
    return BigInt("0x" + digest) % P;
  });
}

function casesFor(n) {
  const range = (f) => Array.from({ length: n }, (_, i) => f(i));
  const cases = [
    ["zeros", range(() => 0n)],
    ["ones", range(() => 1n)],
    ["1..n", range((i) => BigInt(i + 1))],
    ["n..1", range((i) => BigInt(n - i))],
    ["small", range((i) => BigInt(1000003 * (i + 7)))],
    ["p-1", range(() => P - 1n)],
    ["p-1 and 0 alternating", range((i) => (i % 2 === 0 ? P - 1n : 0n))],
    ["2^253", range(() => 1n << 253n)],
    ["2^64 neighbours", range((i) => (1n << 64n) + BigInt(i) - 1n)],
  ];
  for (let k = 0; k < 7; k++) cases.push([`random ${k}`, randomElements(`arity${n}/case${k}`, n)]);
  // With one input several patterns coincide: keep the first of each.
  const seen = new Set();
  return cases.filter(([, inputs]) => !seen.has(String(inputs)) && seen.add(String(inputs)));
}

const str = (xs) => xs.map((x) => x.toString());
const poseidon = [];
for (let n = 1; n <= MAX_INPUTS; n++) {
  for (const [name, inputs] of casesFor(n)) {
    poseidon.push({ name: `arity ${n}: ${name}`, inputs: str(inputs), output: hash(inputs).toString() });
  }
}

const poseidonChain = [];
for (const n of [1, 6, 7, 11, 12, 20]) {
  const values = randomElements(`chain${n}`, n);
  poseidonChain.push({ name: `length ${n}: random`, inputs: str(values), output: chain(values).toString() });
}
const edge = Array.from({ length: 12 }, () => P - 1n);
poseidonChain.push({ name: "length 12: p-1", inputs: str(edge), output: chain(edge).toString() });

const doc = {
  provenance: {
    generator: "scripts/gen_poseidon_vectors.mjs",
    circomlibjs: VERSION,
    date: new Date().toISOString().slice(0, 10),
    method:
      "outputs from circomlibjs buildPoseidon (wasm), equal to buildPoseidonOpt and " +
      "buildPoseidonReference; random inputs are sha256('zkclear-poseidon/<label>/<i>') mod r; " +
      "poseidon_chain composes circomlibjs calls: poseidon(v[0:6]), then poseidon([acc, *chunk of 5])",
  },
  poseidon,
  poseidon_chain: poseidonChain,
};
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, JSON.stringify(doc, null, 1) + "\n");
console.log(`wrote ${path.relative(ROOT, OUT)}: ${poseidon.length} poseidon and ` +
  `${poseidonChain.length} poseidon_chain cases (circomlibjs ${VERSION})`);
