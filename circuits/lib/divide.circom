pragma circom 2.1.0;

include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/bitify.circom";

// out = ceil(in / D) for 0 <= in < 2^B and a constant D >= 1.
// The quotient is a hint; q * D - in = rem with 0 <= rem < D pins it down, because
// q < 2^B and D < 2^32 keep q * D far below r, so the equation cannot wrap.
template CeilDivConst(B, D) {
    assert(D >= 1 && D < (1 << 32) && B <= 200);
    signal input in;
    signal output out;
    out <-- (in + D - 1) \ D;
    signal rem <== out * D - in;
    component qBits = Num2Bits(B);
    qBits.in <== out;
    component rBits = Num2Bits(32);
    rBits.in <== rem;
    signal ok <== LessThan(32)([rem, D]);
    ok === 1;
}
