"""The synchronous API (CONTRACT §10) on the suite's real PostgreSQL and PgBouncer: threads, no event
loop, a call from inside a running loop, pins, transactions, iterators, the sync registry.

The scenarios the two flavours share run for both in ``tests/backend`` (``SyncAsAsync``); what only a
sync caller does — share one backend between threads, run where no loop may be made, or where one is
already running — is here.
"""
