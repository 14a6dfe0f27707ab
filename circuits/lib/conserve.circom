pragma circom 2.1.0;

// Conservation: quantities that move between slots add up to zero.
// The summands are range-checked integers far below r / N, so a zero sum in the field is
// a zero sum over the integers.

// sum_i in[i] = 0.
template SumIsZero(N) {
    signal input in[N];
    var s = 0;
    for (var i = 0; i < N; i++) {
        s += in[i];
    }
    s === 0;
}

// sum_i in[i][m] = 0 for every column m (per instrument).
template ColumnSumsAreZero(N, M) {
    signal input in[N][M];
    for (var m = 0; m < M; m++) {
        var s = 0;
        for (var i = 0; i < N; i++) {
            s += in[i][m];
        }
        s === 0;
    }
}
