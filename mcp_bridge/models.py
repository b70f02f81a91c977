"""MCP servers the gateway calls for context before routing a request.

A server is reached over stdio (the gateway starts `command args…` and keeps it running) or streamable
HTTP (a URL). One tool of it is called per request, with arguments rendered from a template
(`mcp_bridge.template`), and its answer joins the request as a context block. Secrets stay in the
environment: a row names the variables (`env_vars`, `auth_token_env`), never their values.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from mcp_bridge.template import DEFAULT_TEMPLATE, TemplateError, check_template


def _default_template() -> dict:
    return dict(DEFAULT_TEMPLATE)


def _default_args() -> list:
    return []


class McpServer(models.Model):
    class Transport(models.TextChoices):
        STDIO = "stdio", "stdio (a command the gateway starts)"
        HTTP = "http", "streamable HTTP (a URL)"

    name = models.SlugField(max_length=64, unique=True, help_text="Shown in the context block and in /status.")
    enabled = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Order of the servers' answers in the context block (then by name)."
    )
    transport = models.CharField(max_length=8, choices=Transport.choices, default=Transport.STDIO)
    command = models.CharField(
        max_length=500, blank=True, help_text="stdio: the executable, e.g. npx or /usr/bin/python3."
    )
    args = models.JSONField(
        "arguments", default=_default_args, blank=True, help_text="stdio: its arguments, a JSON list of strings."
    )
    env_vars = models.CharField(
        "environment variables", max_length=500, blank=True,
        help_text="stdio: names of the gateway's environment variables passed on to the server, comma-separated "
                  "(PATH, HOME and the like always are).",
    )
    url = models.URLField(
        "URL", max_length=500, blank=True, help_text="streamable HTTP: the endpoint, e.g. http://127.0.0.1:8765/mcp"
    )
    auth_token_env = models.CharField(
        "bearer token variable", max_length=100, blank=True,
        help_text="streamable HTTP: the environment variable holding a bearer token to send, if the server wants one.",
    )
    tool_name = models.CharField(max_length=200, help_text="The tool called for every request.")
    argument_template = models.JSONField(
        default=_default_template,
        help_text='The tool\'s arguments. In strings, {task} is the user\'s latest request (agent scaffolding '
                  'removed), and {conversation_id}, {role}, {profile}, {model} what their names say; {{ and }} '
                  'are literal braces. E.g. {"query": "{task}"}.',
    )
    timeout_ms = models.PositiveIntegerField(
        "timeout (ms)", default=300,
        help_text="How long a request waits for this server's answer; past it the request goes on without it.",
    )
    profiles = models.CharField(
        max_length=300, blank=True,
        help_text="Routing profiles it is called for, comma-separated; empty: every profile.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = "MCP server"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.transport == self.Transport.STDIO:
            if not self.command.strip():
                errors["command"] = "A stdio server needs the command that starts it."
            if not isinstance(self.args, list) or not all(isinstance(arg, str) for arg in self.args):
                errors["args"] = 'The arguments are a JSON list of strings, e.g. ["server.py", "--quiet"].'
        elif not self.url:
            errors["url"] = "A streamable HTTP server needs its URL."
        try:
            check_template(self.argument_template)
        except TemplateError as error:
            errors["argument_template"] = str(error)
        if self.timeout_ms < 1:
            errors["timeout_ms"] = "At least 1 ms."
        if errors:
            raise ValidationError(errors)
