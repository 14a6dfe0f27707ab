pragma circom 2.1.0;

include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/bitify.circom";

// Comparisons of signed values. circomlib's LessThan(n) is sound only when both inputs
// are below 2^n; every caller establishes that its inputs are in [-2^B, 2^B), either
// with SignedRange(B) or because they are built from range-checked factors whose bound
// is documented at the call site. Shifting by 2^B maps that interval onto [0, 2^(B+1)).

// out = (a < b) for signed a, b in [-2^B, 2^B).
template SignedLessThan(B) {
    assert(B <= 250);
    signal input a;
    signal input b;
    signal output out;
    out <== LessThan(B + 1)([a + (1 << B), b + (1 << B)]);
}

// out = max(x, 0) and neg = (x < 0) for signed x in [-2^B, 2^B).
template PositivePart(B) {
    signal input in;
    signal output out;
    signal output neg;
    neg <== SignedLessThan(B)(in, 0);
    out <== in * (1 - neg);
}

// out = min(a, b) for a, b in [0, 2^B).
template UnsignedMin(B) {
    signal input a;
    signal input b;
    signal output out;
    signal lt <== LessThan(B)([a, b]);
    out <== b + lt * (a - b);
}

// out = max(a, b) for signed a, b in [-2^B, 2^B).
template SignedMax(B) {
    signal input a;
    signal input b;
    signal output out;
    signal lt <== SignedLessThan(B)(a, b);
    out <== a + lt * (b - a);
}

// 0 <= in < 2^B.
template Unsigned(B) {
    signal input in;
    component bits = Num2Bits(B);
    bits.in <== in;
}
