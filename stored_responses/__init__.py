"""Responses the gateway stored so that a later `POST /v1/responses` can continue from them.

One row per stored response: the chat messages it ended with (its history, its input and its
answer), scoped to the gateway key that created it, kept RESPONSES_STORE_DAYS days. In the
database rather than in memory so that every gateway process behind a load balancer finds it.
"""
