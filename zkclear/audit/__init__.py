"""The compliance audit from public chain data and a view key."""
