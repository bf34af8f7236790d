"""Expert payouts: accounts, batches, lines, holds. (Imported by payments.models.)"""
