pragma circom 2.1.0;

include "circomlib/circuits/poseidon.circom";
include "hash.circom";

// The report cipher of zkclear/cipher.py (docs/protocol.md, "Report cipher"), under an
// epoch key K_e, for L plaintext field elements:
//   ks_j = Poseidon(K_e, j + 1)            j = 0 .. L-1
//   ct_j = pt_j + ks_j
//   tag  = PoseidonChain(K_e, L, ct_0 .. ct_{L-1})
//   C    = PoseidonChain(ct_0 .. ct_{L-1}, tag)
// Outputs the ciphertext, the tag and the commitment C; nothing here is a free witness.
template ReportCipher(L) {
    signal input key;
    signal input pt[L];
    signal output ct[L];
    signal output tag;
    signal output commitment;

    component ks[L];
    signal tagIn[L + 2];
    signal commitIn[L + 1];
    tagIn[0] <== key;
    tagIn[1] <== L;
    for (var j = 0; j < L; j++) {
        ks[j] = Poseidon(2);
        ks[j].inputs[0] <== key;
        ks[j].inputs[1] <== j + 1;
        ct[j] <== pt[j] + ks[j].out;
        tagIn[2 + j] <== ct[j];
        commitIn[j] <== ct[j];
    }
    tag <== PoseidonChain(L + 2)(tagIn);
    commitIn[L] <== tag;
    commitment <== PoseidonChain(L + 1)(commitIn);
}
