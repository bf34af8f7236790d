"""Celery tasks for payouts. (Imported by payments.tasks.)"""
