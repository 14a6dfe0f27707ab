pragma circom 2.1.0;

include "../../circuits/lib/hash.circom";

// Test wrapper: PoseidonChain(n) with its output public, to compare with Python.
template PoseidonChainTest(n) {
    signal input in[n];
    signal output out;
    out <== PoseidonChain(n)(in);
}
