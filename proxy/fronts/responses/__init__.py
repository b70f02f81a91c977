"""OpenAI's Responses API (`POST /v1/responses`), served by the chat-completions pipeline.

A Responses request (with the history of `previous_response_id` when the gateway stored it) is
translated into a chat-completions request (`translate_request`), runs through `proxy.pipeline`
(routing, roles, profiles, keys, limits, fallback, usage rows), and its answer is translated back
into a `response` object (`translate_response`) or, streamed, into Responses' typed events
(`stream`). `service` ties them together for the ASGI front; `history` keeps what a later request
may continue from.
"""
