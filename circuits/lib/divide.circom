pragma circom 2.1.0;

include "compare.circom";

// Ceiling division by a constant, the quotient given as a hint and pinned down.

// Bits of x >= 0: the least n with x < 2^n.
function nBits(x) {
    var n = 0;
    while ((1 << n) <= x) {
        n++;
    }
    return n;
}

// Bits of the largest quotient CeilDivConst(B, D) can output: ceil((2^B - 1) / D).
// Callers use it to state the bound of the result for the comparisons that follow.
function ceilDivBits(B, D) {
    var largest = ((1 << B) - 1 + D - 1) \ D;
    var bits = nBits(largest);
    return bits;
}

// out = ceil(in / D) for an integer 0 <= in < 2^B and a constant 2 <= D < 2^32.
template CeilDivConst(B, D) {
    assert(D >= 2 && D < (1 << 32) && B >= 1 && B <= 200);
    var QB = ceilDivBits(B, D);
    var DB = nBits(D - 1);
    signal input in;
    signal output out;

    out <-- (in + D - 1) \ D;
    // out * D = in + rem with 0 <= rem < D says out = ceil(in / D). It cannot hold for
    // another out: out < 2^QB and rem < D keep out * D - rem inside (-D, 2^(QB+32)), far
    // from r, so the equation holds over the integers, and only one multiple of D lies
    // in [in, in + D).
    signal rem <== out * D - in;
    Unsigned(QB)(out);
    // 0 <= rem and rem <= D - 1, both in DB bits (D - 1 < 2^DB).
    Unsigned(DB)(rem);
    Unsigned(DB)(D - 1 - rem);
}
