pragma circom 2.1.0;

include "hash.circom";

// A slot's state leaf (docs/protocol.md, "State"):
//   leaf = PoseidonChain(c, q[0..M-1], df, vkh, status, nonce)
// with signed values encoded mod r. The nonce is fresh every epoch, so a leaf's hash and
// every Merkle sibling change even when the slot does not.
template Leaf(M) {
    signal input c;
    signal input q[M];
    signal input df;
    signal input vkh;
    signal input status;
    signal input nonce;
    signal output hash;
    signal v[M + 5];
    v[0] <== c;
    for (var m = 0; m < M; m++) {
        v[1 + m] <== q[m];
    }
    v[M + 1] <== df;
    v[M + 2] <== vkh;
    v[M + 3] <== status;
    v[M + 4] <== nonce;
    hash <== PoseidonChain(M + 5)(v);
}
