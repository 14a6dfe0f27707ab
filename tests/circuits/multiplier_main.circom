pragma circom 2.1.0;

include "multiplier_lib.circom";

component main {public [offset]} = Multiplier();
