#!/usr/bin/env node
// Generate zkclear/_poseidon_constants.py from circomlibjs's Poseidon constants.
//
// Usage (from the repository root):  node scripts/gen_poseidon_constants.mjs
//
// Source: node_modules/circomlibjs/src/poseidon_constants_opt.json, the optimised
// constants (C, S, M, P) that circomlib's poseidon.circom (via poseidon_constants.circom)
// and circomlibjs's poseidon_opt.js use.  Only t = 2..7 (1..6 inputs) are written, to keep
// the module small.  The plain constants (poseidon_constants.json: C, M) are read only to
// check that both files describe the same permutation (same MDS matrix, same first round
// constants); zkclear's tests run a plain-algorithm reference on them straight from
// node_modules.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const LIB = path.join(ROOT, "node_modules", "circomlibjs");
const OUT = path.join(ROOT, "zkclear", "_poseidon_constants.py");

const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const N_ROUNDS_F = 8;
const N_ROUNDS_P = [56, 57, 56, 60, 60, 63]; // t = 2..7, as in poseidon.circom
const T_VALUES = [2, 3, 4, 5, 6, 7];

const readJson = (f) => JSON.parse(fs.readFileSync(path.join(LIB, f), "utf8"));
const version = JSON.parse(fs.readFileSync(path.join(LIB, "package.json"), "utf8")).version;
const opt = readJson("src/poseidon_constants_opt.json");
const plain = readJson("src/poseidon_constants.json");

function check(cond, msg) {
  if (!cond) throw new Error(`circomlibjs constants: ${msg}`);
}

const big = (s) => {
  const v = BigInt(s);
  check(v >= 0n && v < P, `${s} is not a canonical field element`);
  return v;
};
// Upper-case digits, as ruff format writes hex literals.
const hex = (v) => "0x" + v.toString(16).toUpperCase().padStart(64, "0");

const tables = { C: {}, S: {}, M: {}, P: {} };
for (const t of T_VALUES) {
  const i = t - 2;
  const nP = N_ROUNDS_P[i];
  const C = opt.C[i].map(big);
  const S = opt.S[i].map(big);
  const M = opt.M[i].map((row) => row.map(big));
  const Pm = opt.P[i].map((row) => row.map(big));
  check(C.length === t * N_ROUNDS_F + nP, `t=${t}: ${C.length} optimised round constants`);
  check(S.length === nP * (2 * t - 1), `t=${t}: ${S.length} sparse-matrix constants`);
  check(M.length === t && M.every((r) => r.length === t), `t=${t}: M is not ${t}x${t}`);
  check(Pm.length === t && Pm.every((r) => r.length === t), `t=${t}: P is not ${t}x${t}`);
  // The optimised M is the transpose of the plain one; the first round's constants agree.
  const plainM = plain.M[i].map((row) => row.map(big));
  const plainC = plain.C[i].map(big);
  check(plainC.length === t * (N_ROUNDS_F + nP), `t=${t}: ${plainC.length} plain constants`);
  for (let a = 0; a < t; a++) {
    check(C[a] === plainC[a], `t=${t}: first-round constant ${a} differs`);
    for (let b = 0; b < t; b++) check(M[a][b] === plainM[b][a], `t=${t}: M[${a}][${b}]`);
  }
  tables.C[t] = C;
  tables.S[t] = S;
  tables.M[t] = M;
  tables.P[t] = Pm;
}

const lines = [];
const out = (s = "") => lines.push(s);
const date = new Date().toISOString().slice(0, 10);
out(`"""Poseidon constants for BN254, t = 2..7 (1..6 inputs), as circomlib uses them.`);
out();
out(`GENERATED FILE - DO NOT EDIT.  Rebuild with \`node scripts/gen_poseidon_constants.mjs\`.`);
out();
out(`Generator: scripts/gen_poseidon_constants.mjs`);
out(`Source:    circomlibjs ${version}, src/poseidon_constants_opt.json`);
out(`Date:      ${date}`);
out();
out(`These are circomlib's *optimised* constants (the ones poseidon.circom and circomlibjs's`);
out(`poseidon_opt.js use; the neptune optimisation with sparse partial rounds), keyed by t:`);
out();
out(`- \`\`C[t]\`\`: t * N_ROUNDS_F + N_ROUNDS_P[t] round constants;`);
out(`- \`\`S[t]\`\`: N_ROUNDS_P[t] * (2t - 1) sparse-matrix entries, 2t - 1 per partial round;`);
out(`- \`\`M[t]\`\`: the t x t MDS matrix, in circomlib's layout: \`\`new[i] = sum_j M[j][i] * old[j]\`\``);
out(`  (the transpose of the plain M in poseidon_constants.json);`);
out(`- \`\`P[t]\`\`: the t x t matrix applied, in place of M, before the first partial round.`);
out();
out(`Round numbers: N_ROUNDS_F = 8 full rounds, N_ROUNDS_P partial rounds per t (the`);
out(`whitepaper's recommendation rounded up, https://eprint.iacr.org/2019/458.pdf).`);
out(`The generator checks that every entry is a canonical field element and that the plain`);
out(`constants (poseidon_constants.json) share this M and first-round constants.`);
out(`"""`);
out();
out(`CIRCOMLIBJS_VERSION = "${version}"`);
out(`N_ROUNDS_F = ${N_ROUNDS_F}`);
out(`N_ROUNDS_P: dict[int, int] = {${T_VALUES.map((t, i) => `${t}: ${N_ROUNDS_P[i]}`).join(", ")}}`);

function vector(name, table) {
  out();
  out(`${name}: dict[int, tuple[int, ...]] = {`);
  for (const t of T_VALUES) {
    out(`    ${t}: (`);
    for (const v of table[t]) out(`        ${hex(v)},`);
    out(`    ),`);
  }
  out(`}`);
}

function matrix(name, table) {
  out();
  out(`${name}: dict[int, tuple[tuple[int, ...], ...]] = {`);
  for (const t of T_VALUES) {
    out(`    ${t}: (`);
    for (const row of table[t]) {
      out(`        (`);
      for (const v of row) out(`            ${hex(v)},`);
      out(`        ),`);
    }
    out(`    ),`);
  }
  out(`}`);
}

vector("C", tables.C);
vector("S", tables.S);
matrix("M", tables.M);
matrix("P", tables.P);

fs.writeFileSync(OUT, lines.join("\n") + "\n");
console.log(`wrote ${path.relative(ROOT, OUT)} (${fs.statSync(OUT).size} bytes, circomlibjs ${version})`);
