pragma circom 2.1.0;

// Hashing many values with circomlib's Poseidon, as zkclear.poseidon computes it.
//
// Include path: "circomlib/circuits/poseidon.circom" is found through the compiler flag
// `-l node_modules`, run from the repository root (zkclear.prover.circuit does both);
// circom2 runs in a WASI sandbox that sees only files under its working directory, so a
// path outside the repository would not resolve.  By hand, from the repository root:
//     node node_modules/circom2/cli.js MAIN.circom --r1cs --wasm -l node_modules -o DIR
// The Poseidon constants are circomlib's (poseidon_constants.circom); zkclear's Python
// side uses the same ones, generated into zkclear/_poseidon_constants.py.

include "circomlib/circuits/poseidon.circom";

// PoseidonChain(n): zkclear.poseidon.poseidon_chain of n >= 1 values.
// Up to 6 values: Poseidon(n) of them.  More: Poseidon(6) of the first 6, then each
// following chunk of up to 5 values is hashed with the running value in front,
// acc = Poseidon(1 + len)([acc, chunk...]); the output is the last acc.
// n is a compile-time parameter, so the circuit fixes the length the chain covers.
template PoseidonChain(n) {
    assert(n >= 1);
    signal input in[n];
    signal output out;

    var first = n < 6 ? n : 6;
    var nHashes = n <= 6 ? 1 : 1 + (n - 6 + 4) \ 5;
    component h[nHashes];

    h[0] = Poseidon(first);
    for (var i = 0; i < first; i++) {
        h[0].inputs[i] <== in[i];
    }
    for (var k = 1; k < nHashes; k++) {
        var start = 6 + (k - 1) * 5;
        var len = n - start < 5 ? n - start : 5;
        h[k] = Poseidon(1 + len);
        h[k].inputs[0] <== h[k - 1].out;
        for (var i = 0; i < len; i++) {
            h[k].inputs[1 + i] <== in[start + i];
        }
    }
    out <== h[nHashes - 1].out;
}
