"""The clearing engine: netting, mark-to-market, portfolio margin and liquidation."""
