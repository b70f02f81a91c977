"""The Anthropic-compatible inbound endpoint: `/v1/messages`, served by the same pipeline as chat completions.

A Messages request is translated into an OpenAI chat request for the pipeline (routing, profiles,
keys, limits, fallback, usage rows) and handed over as it is too: an Anthropic candidate gets it near
verbatim and its answer comes back unchanged; any other candidate gets the translation, and its answer
is translated back (a `message`, or Anthropic's event stream built chunk by chunk). `serve.py` is the
framework-free entry both fronts call.
"""
