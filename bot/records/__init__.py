"""The activity record: models, database, the writes (any database, PostgreSQL's faster ones),
the recorder with its spool, and the privacy of what is kept."""
