"""The send path: from a queued row to a stored outcome, never on a web request.

1. A service queues a mail in its own transaction: :func:`.queue.enqueue` writes a
   ``delivery`` row (a digest queues one per confirmed subscriber in one INSERT … SELECT).
2. A sender (:class:`.sender.Sender`; in ``flask worker``, ``send-digest`` or the embedded
   worker; several at once in :mod:`.pool`) claims due rows with a lease (:func:`.queue.claim`).
3. :mod:`.kinds` decides per kind who receives it and whether it may still go (a withdrawn
   reader's digest is cancelled); :mod:`.compose` renders it (a digest once per language,
   filled per reader) with absolute links from :mod:`.links`; :mod:`.outgoing` gives each mail
   its VERP envelope sender (:mod:`.verp`) and its DKIM signature (:mod:`.dkim`).
4. A :class:`.transports.base.Connection` hands it over (SMTP, outbox folder or memory), paced
   by :mod:`.pacing`; the relay's refusals arrive as :class:`.transports.base.DeliveryError`.
5. :mod:`.outcomes` turns each result into an :class:`~.outcomes.Outcome` (sent, retry after
   backoff, failed, cancelled, released) and its Recorder stores them in batches, charging hard
   bounces via :mod:`.bounces` (only refusals of the address, :mod:`.replies`; reports that come
   back later go the same way, :mod:`newsletter.bounce_reports`); a digest whose
   latest mails fail the same way is stopped, the rest of it held (:mod:`.holds`); a
   connection hands its next mail over only once the previous outcome is stored, so a crash
   repeats at most one mail per connection and loses none.
"""
