"""Webhooks (SPEC §9): the publisher's other systems are told what happened.

- :mod:`.events` writes an event for every endpoint that wants it, in the transaction of the
  change that causes it (the one place that emits);
- :mod:`.endpoints` adds and removes endpoints, checking their URLs by the feed fetcher's
  SSRF rules;
- :mod:`.sending` is the worker's job: it POSTs what is due, signed as Standard Webhooks,
  retries with backoff and disables an endpoint that fails for too long.
"""
