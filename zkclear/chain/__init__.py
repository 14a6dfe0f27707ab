"""Nodes, contracts, the chain client and the pool driver."""
