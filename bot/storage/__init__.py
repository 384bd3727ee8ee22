"""The incident store: what happened in each complaint thread, follow-ups, and the patterns across them.

`bot.storage.api` is the contract; `bot.storage.store.SqlStore` implements it on SQLite or PostgreSQL.
"""
