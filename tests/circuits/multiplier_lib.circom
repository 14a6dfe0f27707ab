pragma circom 2.1.0;

// Test circuit: c = a * b and s = a + b + offset, with `offset` a public input.
template Multiplier() {
    signal input a;
    signal input b;
    signal input offset;
    signal output c;
    signal output s;
    c <== a * b;
    s <== a + b + offset;
}
