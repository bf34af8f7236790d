"""Admin for payouts. (Imported by payments.admin.)"""
