// zkclear snarkjs worker: one long-lived node process serving snarkjs API calls.
//
// Spawning `snarkjs` per step costs 1.2-1.6 s of node start-up each time; this worker
// keeps one process (and snarkjs's curve/thread pool) alive. Protocol: one JSON object
// per line on stdin, {"id", "op", "args"}; replies are single lines on stdout prefixed
// with MARK, {"id", "ok": true, "result"} or {"id", "ok": false, "error", "stack"};
// progress is {"id", "log": level, "msg"}. Anything else a library prints is forwarded
// to stderr so it can never corrupt the protocol.
import * as snarkjs from "snarkjs";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";

const MARK = "\x1eZKC ";
const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.stdout.write.bind(process.stdout);
// Route console output of libraries to stderr.
console.log = (...a) => process.stderr.write(a.join(" ") + "\n");
console.info = console.log;

function send(obj) {
  const replacer = (_k, v) => {
    if (typeof v === "bigint") return v.toString();
    // contribution hashes come back as byte arrays: send them as hex
    if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
    return v;
  };
  out(MARK + JSON.stringify(obj, replacer) + "\n");
}

function makeLogger(id) {
  const mk = (level) => (msg) => send({ id, log: level, msg: String(msg) });
  return { debug: mk("debug"), info: mk("info"), warn: mk("warn"), error: mk("error") };
}

function groth16Template() {
  const p = path.join(path.dirname(fileURLToPath(import.meta.resolve("snarkjs"))), "templates", "verifier_groth16.sol.ejs");
  return readFileSync(p, "utf8");
}

// snarkjs renders its Solidity verifier with ejs from the verification key alone
// (zkey_export_solidityverifier.js); this is the same rendering for a verification key
// that comes without a zkey (groth16py's development keys). ejs as snarkjs resolves it.
function renderVerifier(vkey) {
  const ejs = createRequire(import.meta.resolve("snarkjs"))("ejs");
  return ejs.render(groth16Template(), vkey);
}

// op -> (args, logger) => result. Arguments are plain JSON; paths are absolute.
const OPS = {
  ping: async () => ({ snarkjs: true, node: process.version }),
  "wtns.calculate": ([input, wasm, wtns]) => snarkjs.wtns.calculate(input, wasm, wtns),
  "wtns.check": ([r1cs, wtns], logger) => snarkjs.wtns.check(r1cs, wtns, logger),
  "r1cs.info": ([r1cs], logger) => snarkjs.r1cs.info(r1cs, logger),
  "zkey.new": ([r1cs, ptau, zkey], logger) => snarkjs.zKey.newZKey(r1cs, ptau, zkey, logger),
  "zkey.contribute": ([oldZ, newZ, name, entropy], logger) =>
    snarkjs.zKey.contribute(oldZ, newZ, name, entropy, logger),
  "zkey.beacon": ([oldZ, newZ, name, hash, iterExp], logger) =>
    snarkjs.zKey.beacon(oldZ, newZ, name, hash, iterExp, logger),
  "zkey.verifyFromR1cs": ([r1cs, ptau, zkey], logger) =>
    snarkjs.zKey.verifyFromR1cs(r1cs, ptau, zkey, logger),
  "zkey.verifyFromInit": ([init, ptau, zkey], logger) =>
    snarkjs.zKey.verifyFromInit(init, ptau, zkey, logger),
  "zkey.exportVerificationKey": ([zkey], logger) => snarkjs.zKey.exportVerificationKey(zkey, logger),
  "zkey.exportSolidityVerifier": ([zkey], logger) =>
    snarkjs.zKey.exportSolidityVerifier(zkey, { groth16: groth16Template() }, logger),
  "vkey.exportSolidityVerifier": async ([vkey]) => renderVerifier(vkey),
  "groth16.prove": ([zkey, wtns], logger) => snarkjs.groth16.prove(zkey, wtns, logger),
  "groth16.verify": ([vk, pub, proof], logger) => snarkjs.groth16.verify(vk, pub, proof, logger),
  "powersoftau.verify": ([ptau], logger) => snarkjs.powersOfTau.verify(ptau, logger),
  "powersoftau.new": ([curve, power, file], logger) =>
    snarkjs.curves.getCurveFromName(curve).then((c) => snarkjs.powersOfTau.newAccumulator(c, power, file, logger)),
  "powersoftau.contribute": ([oldP, newP, name, entropy], logger) =>
    snarkjs.powersOfTau.contribute(oldP, newP, name, entropy, logger),
  "powersoftau.preparePhase2": ([oldP, newP], logger) => snarkjs.powersOfTau.preparePhase2(oldP, newP, logger),
};

let queue = Promise.resolve();
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      send({ id: null, ok: false, error: "malformed request: " + e.message });
      return;
    }
    const fn = OPS[req.op];
    if (!fn) {
      send({ id: req.id, ok: false, error: `unknown op ${req.op}` });
      return;
    }
    try {
      const result = await fn(req.args || [], makeLogger(req.id));
      send({ id: req.id, ok: true, result: result === undefined ? null : result });
    } catch (e) {
      const msg = e && e.message ? e.message : String(e);
      send({ id: req.id, ok: false, error: msg, stack: e && e.stack ? String(e.stack) : "" });
    }
  });
});
rl.on("close", () => {
  queue.then(() => process.exit(0));
});
