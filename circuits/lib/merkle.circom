pragma circom 2.1.0;

include "circomlib/circuits/poseidon.circom";

// Binary Poseidon Merkle root of N leaves (N a power of two): Poseidon(left, right)
// at every level, as zkclear.clearing.state.merkle_root computes it.
template MerkleRoot(N) {
    assert(N >= 2 && (N & (N - 1)) == 0);
    signal input leaves[N];
    signal output root;
    component h[N - 1];
    // Node k (1-based heap order) has children 2k and 2k+1; leaves are nodes N..2N-1.
    signal node[2 * N];
    for (var i = 0; i < N; i++) {
        node[N + i] <== leaves[i];
    }
    for (var k = N - 1; k >= 1; k--) {
        h[k - 1] = Poseidon(2);
        h[k - 1].inputs[0] <== node[2 * k];
        h[k - 1].inputs[1] <== node[2 * k + 1];
        node[k] <== h[k - 1].out;
    }
    root <== node[1];
}
