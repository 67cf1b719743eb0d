"""The member's field client: ``shoal field`` (trust zone: the member's device).

It holds the member's codename and signing key, so it runs only on the
member's own device, never on the server. One concept per module:

- ``_device``: the encrypted store on the device (one key slot, sealed
  records, wipe, duress);
- ``_place``: coarsening a place to a grid cell before it is stored;
- ``_reports``: the signed item envelopes a member sends (report, file,
  key offer, duress alarm);
- ``_outbox``: when a sealed report may go (random delay, backoff, held
  when refused), as pure functions;
- ``_api``: the server's member routes as a client (SOCKS5 capable);
- ``_field``: the member's actions over the store and the API;
- ``cli``: the command line and the step-by-step menu.

Metadata is removed by :mod:`shoal.scrub`; which epochs to believe is
:mod:`shoal.trusted`'s acceptance, shared with the desk.
"""
