"""Keys, the report cipher, transport, escrow and Shamir sharing."""
