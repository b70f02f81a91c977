"""`manage.py mcp_server`: the gateway's stored conversations as an MCP server (stdio, or streamable HTTP)."""

from __future__ import annotations

import asyncio

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikeys.keyformat import PREFIX_LENGTH, prefix_of


class Command(BaseCommand):
    help = (
        "Serve the gateway's conversation store over MCP (tools: save_interaction, read_history, "
        "search_interactions). stdio by default (for Claude Desktop and IDE agents); --http for streamable "
        "HTTP, where each request is authenticated with a gateway key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
        parser.add_argument("--host", default="127.0.0.1", help="HTTP: address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="HTTP: port (default 8765)")
        parser.add_argument("--path", default="/mcp", help="HTTP: endpoint path (default /mcp)")
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument(
            "--key", default="",
            help="stdio: serve the conversations of this gateway key (its prefix gwk_XXXXXXXX, or the key); "
                 "default: those of local mode's anonymous user",
        )
        scope.add_argument("--all-keys", action="store_true",
                           help="stdio: read every key's conversations (saves go to local mode's anonymous user)")
        parser.add_argument("--profile", default="", help="stdio: only this routing profile's conversations")

    def handle(self, *args, **options) -> None:
        from mcp_bridge.server import CallerScope, build_server, fixed_scope, http_app, http_scope

        if options["http"]:
            if options["key"] or options["all_keys"] or options["profile"]:
                raise CommandError("--key, --all-keys and --profile are for stdio; over HTTP the caller's key decides.")
            import uvicorn

            app = http_app(build_server(http_scope), host=options["host"], path=options["path"])
            self.stderr.write(f"MCP server on http://{options['host']}:{options['port']}{options['path']}")
            config = uvicorn.Config(app, host=options["host"], port=options["port"], log_level="warning",
                                    lifespan="on")
            uvicorn.Server(config).run()
            return
        key = options["key"].strip()
        prefix = (prefix_of(key) or key) if key else ""
        if prefix and len(prefix) != PREFIX_LENGTH:
            raise CommandError(
                f"--key {key[:PREFIX_LENGTH]!r}…: give the key's prefix (gwk_ and 8 characters) or the key."
            )
        if options["all_keys"]:
            scope = CallerScope(None, "", options["profile"] or None)
        else:
            scope = CallerScope(prefix, prefix, options["profile"] or None)
        if prefix:
            from apikeys.models import GatewayKey

            if not GatewayKey.objects.filter(prefix=prefix).exists():
                raise CommandError(f"--key: no gateway key has the prefix {prefix}.")
        # stdout is the protocol channel; the gateway's log handler writes to stderr.
        asyncio.run(build_server(fixed_scope(scope)).run_stdio_async())
