"""The pool's roles: deployer, oracle reporter, governance owner, member."""
