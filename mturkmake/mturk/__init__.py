"""The requester side: everything that talks to MTurk or moves money, behind one interface.

The ledger (intents, outcomes, tokens, recovery), exposure and budget, the endpoint factory
(:class:`~mturkmake.mturk.endpoint.Endpoint`), batches (rows ↔ HITs), decisions, spending, the
results cache, waiting and the preflight. Plugins (``mturkmake.plugins``) call into it; it
calls into the make engine (``mturkmake.core``) and the pure formats.
"""
