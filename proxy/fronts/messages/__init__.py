"""The Anthropic-compatible inbound endpoint: `/v1/messages`, served by the same pipeline as chat completions.

A Messages request is translated into an OpenAI chat request, runs through `proxy.pipeline`
(routing, profiles, fallback, usage rows), and its answer is translated back: a `message`, or
Anthropic's event stream built chunk by chunk.
"""
