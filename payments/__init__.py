"""Moves and records money: cards, charges, refunds, ledger, payouts."""
