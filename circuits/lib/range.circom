pragma circom 2.1.0;

include "circomlib/circuits/bitify.circom";

// Signed range: -2^B <= x < 2^B.
// A signed value is carried as x mod r; shifting by 2^B maps the admissible range onto
// [0, 2^(B+1)), which Num2Bits(B+1) pins down. B <= 252 so the shift cannot wrap r.
// Every signed quantity passes through this before it reaches a comparator or a product
// whose bound the rest of the circuit relies on.
template SignedRange(B) {
    assert(B >= 1 && B <= 252);
    signal input in;
    component bits = Num2Bits(B + 1);
    bits.in <== in + (1 << B);
}

// SignedRange over an array.
template SignedRangeArray(N, B) {
    signal input in[N];
    component r[N];
    for (var i = 0; i < N; i++) {
        r[i] = SignedRange(B);
        r[i].in <== in[i];
    }
}
