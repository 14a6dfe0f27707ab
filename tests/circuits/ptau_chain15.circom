pragma circom 2.1.0;

include "ptau_chain_lib.circom";

// constraints + public signals = 16
component main = Chain(15);
