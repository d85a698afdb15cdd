"""Generated documentation: the configuration reference and the Kafka topic reference.

Both are rendered from the code that decides them (the settings object, the topic list and
the message contracts), written to `docs/` by `hopstream docs --write`, and checked by
`hopstream docs` (run by `make test`), so a change to a setting or a contract that is not
reflected in the committed documents fails the build instead of leaving them stale.
"""
