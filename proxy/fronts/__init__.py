"""HTTP fronts of the request path: the pure-ASGI OpenAI front, the ninja API, the Anthropic front."""
