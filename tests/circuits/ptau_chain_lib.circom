pragma circom 2.1.0;

// Test circuit for the ptau tests: y = x^(n+1) through exactly n multiplication
// constraints (none of them linear, so no optimisation level removes any), with the
// output y as the only public signal: constraints + public = n + 1.
template Chain(n) {
    signal input x;
    signal output y;
    signal s[n];
    s[0] <== x * x;
    for (var i = 1; i < n; i++) {
        s[i] <== s[i - 1] * x;
    }
    y <== s[n - 1];
}
