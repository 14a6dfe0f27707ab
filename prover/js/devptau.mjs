// zkclear INSECURE development powers of tau.
//
//   node devptau.mjs --power P --out FILE [--no-phase2] [--label TEXT]
//
// Writes a snarkjs-format phase-1 file (ptau, bn128) for 2^P, prepared for phase 2
// (sections 1-7 and the Lagrange sections 12-15), computed directly from secrets tau,
// alpha, beta that are derived from a public label. Anyone can recompute them, so the
// file is worthless for security; it exists because `snarkjs powersoftau prepare phase2`
// takes ~11 min at 2^14 and hours at 2^16 on our machines.
//
// Why it is fast: every point in a ptau is k*G1 or k*G2 for a scalar k we know. We
// compute the scalars in the field (tau^i, and for the Lagrange sections
// L_i(tau) = (tau^n - 1)/n * w^i / (tau - w^i) with one batch inversion per chunk) and
// multiply the fixed generators with a precomputed window table: ceil(254/w) additions
// per point instead of a 254-bit double-and-add, done in affine coordinates with one
// shared inversion per window and chunk; no group FFT at all (snarkjs's FFT butterflies
// are full scalar multiplications). The work is spread over one worker thread per core.
// docs/benchmarks.md has the measurements.
//
// The file is exactly what snarkjs would hold for the same secrets: one contribution
// (named with the label) whose record is complete and consistent, so `snarkjs powersoftau
// verify` accepts it, and `snarkjs powersoftau prepare phase2` on the --no-phase2 variant
// reproduces this file byte for byte (tests/prover/test_ptau.py checks both). The output does
// not depend on --threads or --chunk.
//
// Secrets (mirrored by dev_secrets() in prover/ptau.py): seed = SHA-256(label);
// x = int(SHA-256(seed || "/" || name)) mod r for name in tau, alpha, beta, and for the
// proof-of-knowledge keys tau_s, alpha_s, beta_s.
//
// Output: the file is written to FILE.tmp-<pid> and renamed at the end; a JSON summary
// goes to stdout, progress to stderr.
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
// ffjavascript is imported lazily by the main thread only: its `web-worker` dependency
// takes over any worker thread that imports it. Workers get the compiled curve wasm.

export const DEFAULT_LABEL = "zkclear INSECURE development powers of tau v1";

const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
const SCALAR_BITS = 254; // r < 2^254
const N8R = 32;
const GROUPS = {
  G1: { prefix: "g1m", sA: 64, sJ: 96 },
  G2: { prefix: "g2m", sA: 128, sJ: 192 },
};
// Points per job: small enough to keep both workers busy and memory flat.
const CHUNK = { G1: 1 << 13, G2: 1 << 12 };

// ---------------------------------------------------------------- field helpers (BigInt)

function mod(a) {
  const x = a % R;
  return x < 0n ? x + R : x;
}

function powmod(b, e) {
  let r = 1n;
  b = mod(b);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % R;
    b = (b * b) % R;
    e >>= 1n;
  }
  return r;
}

const inv = (a) => powmod(a, R - 2n);

function sha256(...parts) {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

export function deriveSecrets(label) {
  const seed = sha256(Buffer.from(label, "utf8"));
  const derive = (name) => mod(BigInt("0x" + sha256(seed, Buffer.from("/" + name, "utf8")).toString("hex")));
  const s = {};
  for (const name of ["tau", "alpha", "beta", "tau_s", "alpha_s", "beta_s"]) {
    s[name] = derive(name);
    if (s[name] === 0n) throw new Error(`degenerate secret ${name}`);
  }
  return s;
}

function toLE(x, n = 32) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

// ---------------------------------------------------------------- worker: fixed-base MSM

// Cost model for the window width w: a point costs one addition per window; the table
// costs, per entry, a jacobian addition plus its share of the batch affine conversion,
// measured at ~2.0 (G1) and ~2.7 (G2) times an affine batch addition. Every worker
// builds its own table, so n is the per-worker point count.
const TABLE_ENTRY_COST = { G1: 2.0, G2: 2.7 };

export function bestWindow(nPoints, group) {
  let best = 4;
  let bestCost = Infinity;
  for (let w = 4; w <= 18; w++) {
    const nWin = Math.ceil(SCALAR_BITS / w);
    const cost = nWin * (TABLE_ENTRY_COST[group] * 2 ** w + nPoints);
    if (cost < bestCost) {
      bestCost = cost;
      best = w;
    }
  }
  return best;
}

async function workerMain() {
  const { code, pG1gen, pG2gen } = workerData.wasm;
  const memory = new WebAssembly.Memory({ initial: 25 });
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(code), { env: { memory } });
  const ex = instance.exports;
  let u8 = new Uint8Array(memory.buffer);
  let u32 = new Uint32Array(memory.buffer);
  let top = (u32[0] + 63) & ~63; // the module's data ends where its free pointer starts

  // A bump allocator over the wasm memory. The wasm batch functions take scratch space
  // from the pointer stored at address 0, so it always points past our data (plus slack).
  function ensure(bytes) {
    const need = top + bytes + (8 << 20);
    const have = memory.buffer.byteLength;
    if (need > have) {
      memory.grow(Math.ceil((need - have) / 65536));
      u8 = new Uint8Array(memory.buffer);
      u32 = new Uint32Array(memory.buffer);
    }
  }
  function alloc(bytes, slack = 0) {
    ensure(bytes + slack);
    const p = top;
    top = (top + bytes + 63) & ~63;
    u32[0] = top;
    return p;
  }
  function release(mark) {
    top = mark;
    u32[0] = top;
  }
  function setFr(p, x) {
    // Scalars cross the thread boundary as BigInt; inside they are Montgomery form.
    u8.set(toLE(x), p);
    ex.frm_toMontgomery(p, p);
  }

  const tables = {};

  // table[j][d-1] = d * 2^(w*j) * G, affine LEM, for d in 1..2^w-1.
  function buildTable(gname) {
    const { prefix, sA, sJ } = GROUPS[gname];
    const w = workerData.windows[gname];
    const nWin = Math.ceil(SCALAR_BITS / w);
    const per = 2 ** w - 1;
    const pTab = alloc(nWin * per * sA);
    const mark = top;
    const pJ = alloc(per * sJ, per * sJ);
    const pBase = alloc(sA);
    const pGen = gname === "G1" ? pG1gen : pG2gen;
    ex[prefix + "_toAffine"](pGen, pBase);
    for (let j = 0; j < nWin; j++) {
      ex[prefix + "_toJacobian"](pBase, pJ);
      for (let d = 1; d < per; d++) {
        ex[prefix + "_addMixed"](pJ + (d - 1) * sJ, pBase, pJ + d * sJ);
      }
      ex[prefix + "_batchToAffine"](pJ, per, pTab + j * per * sA);
      // next base = 2^w * base = (2^w - 1) * base + base
      ex[prefix + "_addMixed"](pJ + (per - 1) * sJ, pBase, pJ);
      ex[prefix + "_toAffine"](pJ, pBase);
    }
    release(mark);
    tables[gname] = { pTab, w, nWin, per };
  }

  // Scalars for one job, in Montgomery form at pS (n * 32 bytes).
  function makeScalars(job, pS, n) {
    const pTmp = alloc(N8R * 4);
    const pInc = pTmp, pK = pTmp + 32, pT = pTmp + 64, pTau = pTmp + 96;
    if (job.kind === "powers") {
      // s_i = first * inc^i (first already includes inc^start)
      setFr(pS, job.first);
      setFr(pInc, job.inc);
      for (let i = 1; i < n; i++) ex.frm_mul(pS + (i - 1) * N8R, pInc, pS + i * N8R);
      return;
    }
    // Lagrange: x_i = w^(start+i); s_i = x_i * (K / (tau - x_i) - T)
    const pX = alloc(n * N8R);
    const pD = alloc(n * N8R, (n + 1) * N8R);
    setFr(pX, job.first);
    setFr(pInc, job.inc);
    setFr(pK, job.K);
    setFr(pT, job.T);
    setFr(pTau, job.tau);
    for (let i = 1; i < n; i++) ex.frm_mul(pX + (i - 1) * N8R, pInc, pX + i * N8R);
    for (let i = 0; i < n; i++) ex.frm_sub(pTau, pX + i * N8R, pD + i * N8R);
    ex.frm_batchInverse(pD, N8R, n, pD, N8R);
    for (let i = 0; i < n; i++) {
      const s = pS + i * N8R;
      ex.frm_mul(pD + i * N8R, pK, s);
      ex.frm_sub(s, pT, s);
      ex.frm_mul(s, pX + i * N8R, s);
    }
  }

  // Window j's digit of scalar i (normal form, little-endian at s).
  function digit(s, j, w, mask) {
    const bit = j * w;
    const byte = bit >> 3;
    let v = 0;
    for (let k = 3; k >= 0; k--) v = v * 256 + (byte + k < N8R ? u8[s + byte + k] : 0);
    return Math.floor(v / 2 ** (bit & 7)) & mask;
  }

  // k_i * G for n scalars: the table entries of each point's digits, summed with one
  // mixed (jacobian + affine) addition each, then one batch conversion to affine.
  function msmJacobian(gname, pS, n, pA) {
    const { prefix, sJ } = GROUPS[gname];
    const { pTab, w, nWin, per } = tables[gname];
    const sA = GROUPS[gname].sA;
    const pJ = alloc(n * sJ, n * sJ);
    const add = ex[prefix + "_addMixed"];
    for (let i = 0; i < n; i++) {
      const s = pS + i * N8R;
      const acc = pJ + i * sJ;
      ex[prefix + "_zero"](acc);
      for (let j = 0; j < nWin; j++) {
        const d = digit(s, j, w, per);
        if (d) add(acc, pTab + (j * per + d - 1) * sA, acc);
      }
    }
    ex[prefix + "_batchToAffine"](pJ, n, pA);
  }

  // The same sums in affine coordinates, window by window across all n points, so the
  // n slope denominators share one batch inversion (Montgomery's trick): ~6 field
  // multiplications per addition instead of ~11, and no final conversion.
  // No addition here can be a doubling or give zero: the accumulator holds
  // (k mod 2^(w*j)) * G and the addend d * 2^(w*j) * G with 0 < k mod 2^(w*j) <
  // d * 2^(w*j) and their sum <= k < r, so the two x-coordinates always differ.
  function msmAffine(gname, pS, n, pA) {
    const { prefix, sA } = GROUPS[gname];
    const { pTab, w, nWin, per } = tables[gname];
    const fe = sA / 2;
    const F = gname === "G1" ? "f1m" : "f2m";
    const mul = ex[F + "_mul"], square = ex[F + "_square"], sub = ex[F + "_sub"];
    const copy = ex[F + "_copy"];
    const set = new Uint8Array(n);
    const idx = new Int32Array(n);
    const tab = new Int32Array(n);
    const pD = alloc(n * fe, (n + 1) * fe);
    const pL = alloc(fe), pX = alloc(fe);
    for (let j = 0; j < nWin; j++) {
      let k = 0;
      for (let i = 0; i < n; i++) {
        const d = digit(pS + i * N8R, j, w, per);
        if (!d) continue;
        const t = pTab + (j * per + d - 1) * sA;
        const a = pA + i * sA;
        if (!set[i]) {
          u8.copyWithin(a, t, t + sA);
          set[i] = 1;
          continue;
        }
        sub(t, a, pD + k * fe); // x_t - x_a
        idx[k] = i;
        tab[k] = t;
        k++;
      }
      if (!k) continue;
      ex[F + "_batchInverse"](pD, fe, k, pD, fe);
      for (let m = 0; m < k; m++) {
        const a = pA + idx[m] * sA, t = tab[m], q = pD + m * fe;
        sub(t + fe, a + fe, pL); // y_t - y_a
        mul(pL, q, pL); // lambda
        square(pL, pX);
        sub(pX, a, pX);
        sub(pX, t, pX); // x3 = lambda^2 - x_a - x_t
        sub(a, pX, q);
        mul(pL, q, q);
        sub(q, a + fe, a + fe); // y3 = lambda (x_a - x3) - y_a
        copy(pX, a);
      }
    }
    for (let i = 0; i < n; i++) if (!set[i]) ex[prefix + "_zeroAffine"](pA + i * sA);
  }

  const stats = { table_ms: 0, scalars_ms: 0, msm_ms: 0, points: 0 };
  function runJob(job) {
    const gname = job.group;
    let t0 = performance.now();
    if (!tables[gname]) {
      buildTable(gname);
      stats.table_ms += performance.now() - t0;
      t0 = performance.now();
    }
    const { prefix, sA } = GROUPS[gname];
    const n = job.count;
    const mark = top;
    const pS = alloc(n * N8R);
    makeScalars(job, pS, n);
    ex.frm_batchFromMontgomery(pS, n, pS);
    const t1 = performance.now();
    const pA = alloc(n * sA);
    if (workerData.jacobian) msmJacobian(gname, pS, n, pA);
    else msmAffine(gname, pS, n, pA);
    stats.scalars_ms += t1 - t0;
    stats.msm_ms += performance.now() - t1;
    stats.points += n;
    const lem = u8.slice(pA, pA + n * sA);
    let comp = null;
    if (job.compressed) {
      // the contribution's response hash runs over the compressed form
      const pC = alloc(n * sA / 2);
      ex[prefix + "_batchLEMtoC"](pA, n, pC);
      comp = u8.slice(pC, pC + n * sA / 2);
    }
    release(mark);
    return { lem, comp };
  }

  function toUncompressed(gname, buff) {
    const { prefix, sA } = GROUPS[gname];
    const n = buff.byteLength / sA;
    const mark = top;
    const p = alloc(buff.byteLength);
    u8.set(buff, p);
    ex[prefix + "_batchLEMtoU"](p, n, p);
    const out = u8.slice(p, p + buff.byteLength);
    release(mark);
    return out;
  }

  parentPort.on("message", (msg) => {
    try {
      if (msg.op === "job") {
        const { lem, comp } = runJob(msg.job);
        const transfer = comp ? [lem.buffer, comp.buffer] : [lem.buffer];
        parentPort.postMessage({ id: msg.id, lem, comp }, transfer);
      } else if (msg.op === "stats") {
        parentPort.postMessage({ id: msg.id, stats });
      } else if (msg.op === "toU") {
        const out = toUncompressed(msg.group, msg.buff);
        parentPort.postMessage({ id: msg.id, out }, [out.buffer]);
      }
    } catch (e) {
      parentPort.postMessage({ id: msg.id, error: String(e && e.stack ? e.stack : e) });
    }
  });
  parentPort.postMessage({ ready: true });
}

// ---------------------------------------------------------------- main thread

class Pool {
  constructor(n, windows, wasm, jacobian) {
    this.workers = [];
    this.idle = [];
    this.queue = [];
    this.pending = new Map();
    this.nextId = 1;
    this.ready = [];
    for (let i = 0; i < n; i++) {
      const w = new Worker(fileURLToPath(import.meta.url), { workerData: { windows, wasm, jacobian } });
      this.ready.push(new Promise((res, rej) => {
        w.once("message", (m) => (m.error ? rej(new Error(m.error)) : res()));
        w.once("error", rej);
      }));
      w.on("message", (msg) => this.onMessage(w, msg));
      w.on("error", (e) => this.fail(e));
      this.workers.push(w);
    }
  }

  async start() {
    await Promise.all(this.ready);
    this.idle = [...this.workers];
  }

  fail(e) {
    for (const { reject } of this.pending.values()) reject(e);
    this.pending.clear();
  }

  onMessage(w, msg) {
    if (msg.ready) return;
    const p = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    this.idle.push(w);
    this.pump();
    if (!p) return;
    if (msg.error) p.reject(new Error(msg.error));
    else p.resolve(msg);
  }

  pump() {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.shift();
      const { msg } = this.queue.shift();
      w.postMessage(msg);
    }
  }

  submit(msg) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ msg: { ...msg, id } });
      this.pump();
    });
  }

  async close() {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function parseArgs(argv) {
  const a = { power: null, out: null, phase2: true, label: DEFAULT_LABEL, threads: os.cpus().length };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--power") a.power = Number(argv[++i]);
    else if (k === "--out") a.out = argv[++i];
    else if (k === "--no-phase2") a.phase2 = false;
    else if (k === "--label") a.label = argv[++i];
    else if (k === "--threads") a.threads = Number(argv[++i]);
    else if (k === "--chunk") a.chunk = Number(argv[++i]); // tests: force many small jobs
    else if (k === "--jacobian") a.jacobian = true; // benchmarks: the simpler MSM variant
    else throw new Error(`unknown argument ${k}`);
  }
  if (!Number.isInteger(a.power) || a.power < 1 || a.power > 27) {
    throw new Error("--power must be an integer in 1..27");
  }
  if (!a.out) throw new Error("--out FILE is required");
  if (Buffer.byteLength(a.label, "utf8") > 64) throw new Error("--label: at most 64 bytes");
  if (!Number.isInteger(a.threads) || a.threads < 1) a.threads = 1;
  return a;
}

async function snarkjsInternals() {
  // Internal modules of the pinned snarkjs (not in its export map): the contribution
  // record must be hashed and encoded exactly as snarkjs does it to pass `verify`.
  const main = fileURLToPath(import.meta.resolve("snarkjs"));
  const src = path.join(path.dirname(main), "src");
  const load = (f) => import(pathToFileURL(path.join(src, f)).href);
  const req = createRequire(main);
  const [utils, keypair, misc, blake] = await Promise.all([
    load("powersoftau_utils.js"),
    load("keypair.js"),
    load("misc.js"),
    import(pathToFileURL(req.resolve("@noble/hashes/blake2b")).href),
  ]);
  return { utils, keypair, misc, blake2b: blake.blake2b };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.chunk) CHUNK.G1 = CHUNK.G2 = args.chunk;
  const t0 = performance.now();
  const log = (m) => process.stderr.write(`[devptau ${((performance.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
  const { utils, keypair, misc, blake2b } = await snarkjsInternals();
  const { buildBn128 } = await import("ffjavascript");
  // single-threaded: the heavy work runs in our own workers, not ffjavascript's
  const curve = await buildBn128(true);
  const Fr = curve.Fr;

  const power = args.power;
  const N = 2 ** power;
  const sec = deriveSecrets(args.label);
  const { tau, alpha, beta } = sec;
  const omega = (p) => Fr.toObject(Fr.w[p]);
  // tau must not be a root of unity of any domain used (else L_i(tau) divides by zero)
  if (powmod(tau, BigInt(2 * N)) === 1n) throw new Error("degenerate tau");

  // ---- jobs, in file order
  const jobs = []; // {section, group, kind, ...}
  const powerJobs = (section, group, first, count) => {
    for (let s = 0; s < count; s += CHUNK[group]) {
      const n = Math.min(CHUNK[group], count - s);
      jobs.push({ section, group, kind: "powers", first: mod(first * powmod(tau, BigInt(s))), inc: tau,
        count: n, compressed: true });
    }
  };
  const lagrangeJobs = (section, group, m, maxP) => {
    for (let p = 0; p <= maxP; p++) {
      const n = 2 ** p;
      const w = omega(p);
      const nInv = inv(BigInt(n));
      const K = mod(m * (powmod(tau, BigInt(n)) - 1n) % R * nInv);
      // Level power+1 of section 12 is what snarkjs derives from the 2N-1 tau powers
      // with a zero appended: the tau^(2N-1) term is missing, i.e. minus w^i tau^(n-1)/n.
      const T = p === power + 1 ? mod(m * powmod(tau, BigInt(n - 1)) % R * nInv) : 0n;
      for (let s = 0; s < n; s += CHUNK[group]) {
        const c = Math.min(CHUNK[group], n - s);
        jobs.push({ section, group, kind: "lagrange", first: powmod(w, BigInt(s)), inc: w, K, T, tau,
          count: c, compressed: false });
      }
    }
  };
  powerJobs(2, "G1", 1n, 2 * N - 1);
  powerJobs(3, "G2", 1n, N);
  powerJobs(4, "G1", alpha, N);
  powerJobs(5, "G1", beta, N);
  powerJobs(6, "G2", beta, 1);
  if (args.phase2) {
    lagrangeJobs(12, "G1", 1n, power + 1);
    lagrangeJobs(13, "G2", 1n, power);
    lagrangeJobs(14, "G1", alpha, power);
    lagrangeJobs(15, "G1", beta, power);
  }
  const count = { G1: 0, G2: 0 };
  for (const j of jobs) count[j.group] += j.count;
  const windows = {
    G1: bestWindow(Math.ceil(count.G1 / args.threads), "G1"),
    G2: bestWindow(Math.ceil(count.G2 / args.threads), "G2"),
  };
  log(`power ${power}: ${count.G1} G1 + ${count.G2} G2 points, windows ${JSON.stringify(windows)}, ` +
      `${args.threads} threads`);

  const wasm = { code: curve.tm.code, pG1gen: curve.tm.pG1gen, pG2gen: curve.tm.pG2gen };
  const pool = new Pool(args.threads, windows, wasm, Boolean(args.jacobian));
  await pool.start();

  // ---- the contribution's public key (proof of knowledge of tau, alpha, beta)
  const firstChallenge = utils.calculateFirstChallengeHash(curve, power);
  const G1 = curve.G1, G2 = curve.G2;
  const mul1 = (P, x) => G1.toAffine(G1.timesScalar(P, toLE(x)));
  const mul2 = (P, x) => G2.toAffine(G2.timesScalar(P, toLE(x)));
  const key = { tau: {}, alpha: {}, beta: {} };
  [["tau", 0], ["alpha", 1], ["beta", 2]].forEach(([name, personalization]) => {
    const k = key[name];
    k.prvKey = sec[name];
    k.g1_s = mul1(G1.g, sec[name + "_s"]);
    k.g1_sx = mul1(k.g1_s, sec[name]);
    k.g2_sp = G2.toAffine(keypair.getG2sp(curve, personalization, firstChallenge, k.g1_s, k.g1_sx));
    k.g2_spx = mul2(k.g2_sp, sec[name]);
  });

  // ---- write
  const sizes = sectionSizes(power, args.phase2, Buffer.byteLength(args.label, "utf8"));
  const tmp = `${args.out}.tmp-${process.pid}`;
  const fh = await fs.promises.open(tmp, "w+");
  let workerStats = null;
  let pos = 0;
  const write = async (buf) => {
    await fh.write(buf, 0, buf.byteLength, pos);
    pos += buf.byteLength;
  };
  const u32 = (x) => { const b = Buffer.alloc(4); b.writeUInt32LE(x); return b; };
  const u64 = (x) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(x)); return b; };
  const sectionStart = {};
  const beginSection = async (id) => {
    await write(Buffer.concat([u32(id), u64(sizes[id])]));
    sectionStart[id] = pos;
  };
  const endSection = (id) => {
    if (pos - sectionStart[id] !== sizes[id]) {
      throw new Error(`internal: section ${id} is ${pos - sectionStart[id]} bytes, expected ${sizes[id]}`);
    }
  };

  try {
    await write(Buffer.concat([Buffer.from("ptau"), u32(1), u32(args.phase2 ? 11 : 7)]));
    await beginSection(1);
    await write(Buffer.concat([u32(32), Buffer.from(toLE(Q)), u32(power), u32(power)]));
    endSection(1);

    const responseHasher = blake2b.create({ dkLen: 64 });
    responseHasher.update(firstChallenge);
    const responseFeed = new FixedFeed(responseHasher);
    const firstPoints = {};

    // Keep a few jobs in flight beyond the workers so neither waits on the writer.
    const inFlight = [];
    let next = 0;
    const depth = 2 * args.threads + 1;
    const fill = () => {
      while (next < jobs.length && inFlight.length < depth) {
        const job = jobs[next++];
        inFlight.push({ job, res: pool.submit({ op: "job", job }) });
      }
    };
    let current = null;
    let lastLog = 0;
    fill();
    while (inFlight.length) {
      const { job, res } = inFlight.shift();
      const out = await res;
      fill();
      if (current !== job.section) {
        if (current !== null) endSection(current);
        if (job.section === 12) {
          // sections 2-6 are complete: the contribution record can be written now
          await writeContribution();
        }
        await beginSection(job.section);
        current = job.section;
        log(`section ${current}`);
      }
      if (!(job.section in firstPoints)) firstPoints[job.section] = out.lem.slice(0, 2 * GROUPS[job.group].sA);
      if (job.compressed) responseFeed.update(out.comp);
      await write(out.lem);
      if (performance.now() - lastLog > 10000) {
        lastLog = performance.now();
        log(`section ${job.section}: ${next}/${jobs.length} jobs`);
      }
    }
    endSection(current);
    if (!args.phase2) await writeContribution();

    async function writeContribution() {
      const pt = (sid, i, g) => (g === "G1"
        ? G1.fromRprLEM(firstPoints[sid], i * 64) : G2.fromRprLEM(firstPoints[sid], i * 128));
      const contribution = {
        tauG1: pt(2, 1, "G1"),
        tauG2: pt(3, 1, "G2"),
        alphaG1: pt(4, 0, "G1"),
        betaG1: pt(5, 0, "G1"),
        betaG2: pt(6, 0, "G2"),
        key,
      };
      responseFeed.flush();
      contribution.partialHash = misc.toPartialHash(responseHasher);
      const buffKey = new Uint8Array(64 * 6 + 128 * 3);
      utils.toPtauPubKeyRpr(buffKey, 0, curve, key, false);
      responseHasher.update(buffKey);
      const responseHash = responseHasher.digest();

      // The next challenge hashes the sections just written, uncompressed, as snarkjs
      // re-reads them in `contribute`; read them back rather than keeping them in memory.
      const nextHasher = blake2b.create({ dkLen: 64 });
      nextHasher.update(responseHash);
      for (const [sid, g] of [[2, "G1"], [3, "G2"], [4, "G1"], [5, "G1"], [6, "G2"]]) {
        const sA = GROUPS[g].sA;
        const step = CHUNK[g] * 4 * sA;
        const pending = [];
        for (let off = 0; off < sizes[sid]; off += step) {
          const len = Math.min(step, sizes[sid] - off);
          const buff = Buffer.alloc(len);
          await fh.read(buff, 0, len, sectionStart[sid] + off);
          pending.push(pool.submit({ op: "toU", group: g, buff }));
        }
        for (const p of pending) nextHasher.update((await p).out);
      }
      contribution.nextChallenge = nextHasher.digest();

      await beginSection(7);
      await write(Buffer.concat([u32(1), encodeContribution(curve, utils, contribution, args.label)]));
      endSection(7);
      log("contribution record written");
      return responseHash;
    }

    await fh.sync();
    await fh.close();
    fs.renameSync(tmp, args.out);
  } catch (e) {
    await fh.close().catch(() => {});
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    // all workers are idle now, so these requests go one to each
    workerStats = await Promise.all(pool.workers.map(() => pool.submit({ op: "stats" })))
      .then((r) => r.map((m) => Object.fromEntries(
        Object.entries(m.stats).map(([k, v]) => [k, Math.round(v)]))))
      .catch(() => null);
    await pool.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  log(`done: ${args.out}`);
  process.stdout.write(JSON.stringify({
    path: path.resolve(args.out), power, phase2: args.phase2, label: args.label,
    bytes: pos, seconds: Number(seconds.toFixed(3)), windows, threads: args.threads,
    points: count, workers: workerStats,
  }) + "\n");
}

// The partial hash stored in a contribution is blake2b's raw state, including stale bytes
// in its block buffer that depend on how the input was split into update() calls. Feeding
// it fixed-size pieces makes the file independent of our job sizes (hence deterministic).
class FixedFeed {
  constructor(hasher, size = 1 << 16) {
    this.hasher = hasher;
    this.buf = new Uint8Array(size);
    this.fill = 0;
  }

  update(data) {
    let off = 0;
    while (off < data.byteLength) {
      const n = Math.min(this.buf.byteLength - this.fill, data.byteLength - off);
      this.buf.set(data.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.buf.byteLength) this.flush();
    }
  }

  flush() {
    if (this.fill) this.hasher.update(this.buf.subarray(0, this.fill));
    this.fill = 0;
  }
}

// Byte sizes of every section (the file's layout is fixed by the power).
function sectionSizes(power, phase2, labelBytes) {
  const N = 2 ** power;
  const s = {
    1: 4 + 32 + 4 + 4,
    2: (2 * N - 1) * 64,
    3: N * 128,
    4: N * 64,
    5: N * 64,
    6: 128,
    // nContributions + points + pubkey + partialHash + nextChallenge + type + params
    7: 4 + (64 * 3 + 128 * 2) + (64 * 6 + 128 * 3) + 216 + 64 + 4 + 4 + 2 + labelBytes,
  };
  if (phase2) {
    s[12] = (4 * N - 1) * 64;
    s[13] = (2 * N - 1) * 128;
    s[14] = (2 * N - 1) * 64;
    s[15] = (2 * N - 1) * 64;
  }
  return s;
}

// One contribution as snarkjs's writeContribution lays it out (that function is private).
function encodeContribution(curve, utils, c, name) {
  const parts = [];
  const g1 = (P) => { const b = new Uint8Array(64); curve.G1.toRprLEM(b, 0, P); parts.push(b); };
  const g2 = (P) => { const b = new Uint8Array(128); curve.G2.toRprLEM(b, 0, P); parts.push(b); };
  g1(c.tauG1);
  g2(c.tauG2);
  g1(c.alphaG1);
  g1(c.betaG1);
  g2(c.betaG2);
  const k = new Uint8Array(64 * 6 + 128 * 3);
  utils.toPtauPubKeyRpr(k, 0, curve, c.key, true);
  parts.push(k, c.partialHash, c.nextChallenge);
  const nameBytes = Buffer.from(name, "utf8");
  const params = Buffer.concat([Buffer.from([1, nameBytes.length]), nameBytes]);
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(0, 0); // type 0: an ordinary contribution (not a beacon)
  tail.writeUInt32LE(params.length, 4);
  parts.push(tail, params);
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

if (isMainThread) {
  main().then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`devptau: ${e && e.stack ? e.stack : e}\n`);
      process.exit(1);
    },
  );
} else {
  workerMain().catch((e) => {
    parentPort.postMessage({ error: String(e && e.stack ? e.stack : e) });
  });
}
