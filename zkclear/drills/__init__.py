"""Adversarial drills (``zkclear drill NAME|all``): each story of what one member, two
colluding members, one oracle reporter or a vanished operator could try, run on the
embedded EVM, with a verdict that accounts for the money (:mod:`.base`)."""
