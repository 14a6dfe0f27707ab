pragma circom 2.1.0;

include "circomlib/circuits/bitify.circom";

// Comparisons of signed integers carried as field elements (x mod r).
//
// Every comparison here is a single Num2Bits(B + 1) of d + 2^B, where d is the value
// whose sign is wanted (for a < b, d = a - b). A witness exists only if -2^B <= d < 2^B,
// and then the top bit is 1 exactly when d >= 0. The range check *is* the comparator:
// an input outside the range does not give a wrong answer (the classic LessThan
// overflow, where an unchecked input wraps r), it gives no witness at all.
// For d = a - b to be the integer difference, a and b must be integers of magnitude
// below 2^251 (then |a - b| < r/2 and the residue is the difference): every value of the
// epoch circuit is below 2^126, from range-checked inputs. Each call site states the
// bound B it relies on; a too small B makes honest witnesses fail, never a false proof.

// 0 <= in < 2^B.
template Unsigned(B) {
    assert(B >= 1 && B <= 252);
    signal input in;
    component bits = Num2Bits(B);
    bits.in <== in;
}

// neg = (in < 0), and -2^B <= in < 2^B (the same Num2Bits proves both).
template SignBit(B) {
    assert(B >= 1 && B <= 251);
    signal input in;
    signal output neg;
    component bits = Num2Bits(B + 1);
    bits.in <== in + (1 << B);
    neg <== 1 - bits.out[B];
}

// out = (a < b), for -2^B <= a - b < 2^B.
template SignedLessThan(B) {
    signal input a;
    signal input b;
    signal output out;
    out <== SignBit(B)(a - b);
}

// out = max(a, b), for -2^B <= a - b < 2^B.
template SignedMax(B) {
    signal input a;
    signal input b;
    signal output out;
    signal lt <== SignedLessThan(B)(a, b);
    out <== a + lt * (b - a);
}

// out = min(a, b), for -2^B <= a - b < 2^B.
template SignedMin(B) {
    signal input a;
    signal input b;
    signal output out;
    signal lt <== SignedLessThan(B)(a, b);
    out <== b + lt * (a - b);
}
