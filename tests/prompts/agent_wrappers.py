"""Realistic request shapes from coding agents, built around a plain task text.

Each builder returns the `messages` (and Anthropic-style `system`) an agent would send for the same task, with
its scaffolding where the agent puts it: Claude Code (Anthropic Messages: system blocks, `<system-reminder>`
blocks around the prompt, tool loops of `tool_use`/`tool_result`), Roo Code (OpenAI chat: role definition at the
top of the system prompt, a MODES section listing every mode, `<task>` plus `<environment_details>` in the user
turn), Aider (OpenAI chat: its system prompt, repo map and added files as user turns before the request, and its
SEARCH/REPLACE reminder appended to the request). The texts paraphrase the agents' prompts; the markers the
detector relies on are the agents' real ones.

The scaffolding deliberately talks about tests, docs, reviews and bugs, so a detector that reads it instead of
the task gets the role wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    """What the gateway receives: the messages, plus a top-level `system` for the Anthropic shape."""

    messages: list[dict[str, Any]]
    system: Any = None
    agent: str = "plain"
    extra: dict[str, Any] = field(default_factory=dict)


# --- Claude Code --------------------------------------------------------------------------------------------------

CLAUDE_CODE_SYSTEM = [
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
    {
        "type": "text",
        "text": (
            "You are an interactive CLI tool that helps users with software engineering tasks. Use the instructions "
            "below and the tools available to you to assist the user.\n\n"
            "# Tone and style\nBe concise, direct, and to the point. Answer the user's question directly.\n\n"
            "# Doing tasks\nThe user will primarily request you perform software engineering tasks. This includes "
            "solving bugs, adding new functionality, refactoring code, explaining code, writing tests and "
            "documentation, and reviewing pull requests. For these tasks the following steps are recommended:\n"
            "- Use the available search tools to understand the codebase and the user's query.\n"
            "- Implement the solution using all tools available to you.\n"
            "- Verify the solution if possible with tests. NEVER assume a specific test framework or test script; "
            "check the README or search the codebase to determine the testing approach.\n"
            "- When you have completed a task, run the lint and typecheck commands.\n\n"
            "# Code References\nWhen referencing specific functions or pieces of code include the pattern "
            "`file_path:line_number`.\n\n"
            "Here is useful information about the environment you are running in:\n<env>\n"
            "Working directory: /home/dev/shop\nIs directory a git repo: Yes\nPlatform: linux\n"
            "Today's date: 2025-06-02\n</env>"
        ),
    },
]

_CLAUDE_MD_REMINDER = (
    "<system-reminder>\nAs you answer the user's questions, you can use the following context:\n"
    "# claudeMd\nCodebase and user instructions are shown below. Be sure to adhere to these instructions.\n\n"
    "Contents of /home/dev/shop/CLAUDE.md (project instructions, checked into the codebase):\n\n"
    "# Shop\n- Run the test suite with `make test`; every bug fix needs a regression test.\n"
    "- Review checklist: docstrings on public functions, no bare except, update the README and CHANGELOG.\n"
    "- Architecture: Django monolith, Celery workers, Postgres. Debug with `make debug`.\n\n"
    "      IMPORTANT: this context may or may not be relevant to your tasks. You should not respond to this "
    "context unless it is highly relevant to your task.\n</system-reminder>\n"
)
_TODO_REMINDER = (
    "<system-reminder>This is a reminder that your todo list is currently empty. DO NOT mention this to the user "
    "explicitly because they are already aware. If you are working on tasks that would benefit from a todo list "
    "please use the TodoWrite tool to create one.</system-reminder>"
)
PLAN_MODE_REMINDER = (
    "<system-reminder>\nPlan mode is active. The user indicated that they do not want you to execute yet -- you "
    "MUST NOT make any edits, run any non-readonly tools, or otherwise make any changes to the system. Instead, "
    "answer the user's query comprehensively and present your plan by calling the ExitPlanMode tool.\n"
    "</system-reminder>"
)


def claude_code(task: str, *, plan_mode: bool = False) -> Request:
    """The first turn of a Claude Code session (Anthropic Messages)."""
    blocks = [{"type": "text", "text": _CLAUDE_MD_REMINDER}, {"type": "text", "text": task}]
    if plan_mode:
        blocks.append({"type": "text", "text": PLAN_MODE_REMINDER})
    blocks.append({"type": "text", "text": _TODO_REMINDER})
    return Request([{"role": "user", "content": blocks}], system=CLAUDE_CODE_SYSTEM, agent="claude_code")


def claude_code_tool_turn(request: Request) -> Request:
    """The next request of the agent loop: the assistant called a tool, the user turn carries only its result."""
    messages = [
        *request.messages,
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look at the relevant files first."},
                {"type": "tool_use", "id": "toolu_01A", "name": "Grep", "input": {"pattern": "def checkout"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01A",
                    "content": "shop/orders/services.py:41:def checkout(cart, user):\n"
                    "tests/test_orders.py:12:def test_checkout_fails_with_empty_cart():",
                },
                {"type": "text", "text": _TODO_REMINDER},
            ],
        },
    ]
    return Request(messages, system=request.system, agent=request.agent)


def claude_code_local_command(request: Request) -> Request:
    """The person ran `/cost` locally: Claude Code records it as user turns that are not a prompt."""
    messages = [
        *request.messages,
        {"role": "assistant", "content": [{"type": "text", "text": "Done."}]},
        {
            "role": "user",
            "content": "Caveat: The messages below were generated by the user while running local commands. DO NOT "
            "respond to these messages or otherwise consider them in your response unless the user explicitly asks "
            "you to.",
        },
        {"role": "user", "content": "<command-name>/cost</command-name>\n<command-message>cost</command-message>"},
        {"role": "user", "content": "<local-command-stdout>Total cost: $0.42</local-command-stdout>"},
    ]
    return Request(messages, system=request.system, agent=request.agent)


# --- Roo Code -----------------------------------------------------------------------------------------------------

ROO_ROLE_DEFINITIONS = {
    "code": "You are Roo, a highly skilled software engineer with extensive knowledge in many programming languages, "
    "frameworks, design patterns, and best practices.",
    "architect": "You are Roo, an experienced technical leader who is inquisitive and an excellent planner. Your "
    "goal is to gather information and get context to create a detailed plan for accomplishing the user's task.",
    "ask": "You are Roo, a knowledgeable technical assistant focused on answering questions and providing "
    "information about software development, technology, and related topics.",
    "debug": "You are Roo, an expert software debugger specializing in systematic problem diagnosis and resolution.",
    "orchestrator": "You are Roo, a strategic workflow orchestrator who coordinates complex tasks by delegating them "
    "to appropriate specialized modes.",
}
ROO_MODE_NAMES = {
    "code": "💻 Code",
    "architect": "🏗️ Architect",
    "ask": "❓ Ask",
    "debug": "🪲 Debug",
    "orchestrator": "🪃 Orchestrator",
}


def _roo_system(mode: str, role_definition: str | None = None) -> str:
    modes = "\n".join(
        f'  * "{ROO_MODE_NAMES[slug]}" mode ({slug}) - {definition.split(". ")[0]}'
        for slug, definition in ROO_ROLE_DEFINITIONS.items()
    )
    opening = role_definition or ROO_ROLE_DEFINITIONS[mode]
    return (
        f"{opening}\n\n====\n\nMARKDOWN RULES\n\nALL responses MUST show ANY `language construct` OR filename "
        "reference as clickable.\n\n====\n\nTOOL USE\n\nYou have access to a set of tools that are executed upon "
        "the user's approval. You can use one tool per message.\n\n# Tools\n\n## read_file\nDescription: Request to "
        "read the contents of one or more files.\n\n## apply_diff\nDescription: Request to apply targeted "
        "modifications to an existing file.\n\n## execute_command\nDescription: Request to execute a CLI command, "
        "e.g. to run the test suite or a debugger.\n\n## attempt_completion\nDescription: Present the result of the "
        "task to the user.\n\n====\n\nMODES\n\n- These are the currently available modes:\n"
        f"{modes}\n\n====\n\nRULES\n\n- The project base directory is: /home/dev/shop\n- Always write tests for "
        "new behaviour and keep the documentation in sync.\n\n====\n\nOBJECTIVE\n\nYou accomplish a given task "
        "iteratively, breaking it down into clear steps and working through them methodically."
    )


def _roo_environment(mode: str) -> str:
    name = ROO_MODE_NAMES.get(mode, mode.replace("-", " ").title())
    return (
        "<environment_details>\n# VSCode Visible Files\nshop/orders/services.py\n\n# VSCode Open Tabs\n"
        "shop/orders/services.py,tests/test_orders.py,docs/architecture.md\n\n# Current Time\n"
        "Current time in ISO 8601 UTC format: 2025-06-02T09:14:00.000Z\nUser time zone: Europe/Berlin, UTC+2:00\n\n"
        "# Current Cost\n$0.00\n\n# Current Mode\n"
        f"<slug>{mode}</slug>\n<name>{name}</name>\n<model>gateway/auto</model>\n\n"
        "# Current Workspace Directory (/home/dev/shop) Files\nREADME.md\nCHANGELOG.md\ndocs/\nshop/\ntests/\n"
        "</environment_details>"
    )


def roo(task: str, *, mode: str = "code", role_definition: str | None = None) -> Request:
    """The first turn of a Roo Code task (OpenAI chat format, as sent to an OpenAI-compatible provider)."""
    system_mode = mode if mode in ROO_ROLE_DEFINITIONS else "code"
    messages = [
        {"role": "system", "content": _roo_system(system_mode, role_definition)},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"<task>\n{task}\n</task>"},
                {"type": "text", "text": _roo_environment(mode)},
            ],
        },
    ]
    return Request(messages, agent="roo", extra={"mode": mode})


def roo_tool_turn(request: Request) -> Request:
    """Roo with native tool calling: the assistant's tool call and a `tool` role message with the result."""
    messages = [
        *request.messages,
        {
            "role": "assistant",
            "content": "I'll read the file first.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "shop/orders/services.py"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "def checkout(cart, user):\n    ..."},
    ]
    return Request(messages, agent=request.agent, extra=request.extra)


def roo_text_tool_turn(request: Request) -> Request:
    """Roo's text protocol: the tool result comes back as a user message headed `[tool] Result:`."""
    mode = request.extra.get("mode", "code")
    messages = [
        *request.messages,
        {"role": "assistant", "content": "<read_file>\n<path>shop/orders/services.py</path>\n</read_file>"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "[read_file for 'shop/orders/services.py'] Result:"},
                {
                    "type": "text",
                    "text": "<file><path>shop/orders/services.py</path>\n<content>\n1 | def checkout():"
                    "\n</content></file>",
                },
                {"type": "text", "text": _roo_environment(mode)},
            ],
        },
    ]
    return Request(messages, agent=request.agent, extra=request.extra)


def cline(task: str, *, plan: bool) -> Request:
    """Cline's first turn: `<task>` plus environment details naming PLAN MODE or ACT MODE."""
    env = (
        "<environment_details>\n# VSCode Visible Files\nsrc/app.ts\n\n# Current Working Directory (/home/dev/app) "
        "Files\nsrc/\npackage.json\n\n# Context Window Usage\n0 / 200K tokens used (0%)\n\n# Current Mode\n"
        + (
            "PLAN MODE\nIn this mode you should focus on information gathering, asking questions, and architecting a "
            "solution."
            if plan
            else "ACT MODE"
        )
        + "\n</environment_details>"
    )
    messages = [
        {
            "role": "system",
            "content": "You are Cline, a highly skilled software engineer with extensive knowledge "
            "in many programming languages, frameworks, design patterns, and best practices.",
        },
        {
            "role": "user",
            "content": [{"type": "text", "text": f"<task>\n{task}\n</task>"}, {"type": "text", "text": env}],
        },
    ]
    return Request(messages, agent="cline")


# --- Aider --------------------------------------------------------------------------------------------------------

AIDER_SYSTEM = (
    "Act as an expert software developer.\nAlways use best practices when coding.\nRespect and use existing "
    "conventions, libraries, etc that are already present in the code base.\n\nTake requests for changes to the "
    "supplied code.\nIf the request is ambiguous, ask questions.\n\nOnce you understand the request you MUST:\n"
    "1. Decide if you need to propose *SEARCH/REPLACE* edits to any files that haven't been added to the chat.\n"
    "2. Think step-by-step and explain the needed changes in a few short sentences.\n"
    "3. Describe each change with a *SEARCH/REPLACE block* per the examples below.\n\n"
    "All changes to files must use this *SEARCH/REPLACE block* format.\nONLY EVER RETURN CODE IN A "
    "*SEARCH/REPLACE BLOCK*!"
)
_AIDER_REPO_MAP = (
    "Here are summaries of some files present in my git repository.\nDo not propose changes to these files, treat "
    "them as *read-only*.\nIf you need to edit any of these files, ask me to *add them to the chat* first.\n\n"
    "shop/orders/services.py:\n⋮\n│def checkout(cart, user):\n⋮\n│class RefundError(Exception):\n⋮\n"
    "tests/test_orders.py:\n⋮\n│def test_checkout_fails_with_empty_cart():\n⋮\n"
    "docs/architecture.md\nREADME.md\n"
)
_AIDER_FILES = (
    "I have *added these files to the chat* so you can go ahead and edit them.\n\n*Trust this message as the true "
    "contents of these files!*\nAny other messages in the chat may contain outdated versions of the files' "
    'contents.\n\nshop/orders/services.py\n```\nclass RefundError(Exception):\n    """Raised when a refund '
    'fails; see the docs for how to debug it."""\n\n\ndef checkout(cart, user):\n    # TODO: write tests, '
    'review the error handling, document the flow\n    if not cart.items:\n        raise ValueError("empty '
    'cart")\n    return cart.total()\n```\n'
)
_AIDER_REMINDER = (
    "# *SEARCH/REPLACE block* Rules:\n\nEvery *SEARCH/REPLACE block* must use this format:\n1. The *FULL* file path "
    "alone on a line, verbatim.\n2. The opening fence and code language, eg: ```python\n3. The start of search "
    "block: <<<<<<< SEARCH\n4. A contiguous chunk of lines to search for in the existing source code\n5. The "
    "dividing line: =======\n6. The lines to replace into the source code\n7. The end of the replace block: "
    ">>>>>>> REPLACE\n8. The closing fence: ```\n\nONLY EVER RETURN CODE IN A *SEARCH/REPLACE BLOCK*!"
)


def aider(task: str) -> Request:
    """One Aider request: system prompt, repo map, added files, then the request with the reminder appended."""
    messages = [
        {"role": "system", "content": AIDER_SYSTEM},
        {"role": "user", "content": _AIDER_REPO_MAP},
        {"role": "assistant", "content": "Ok, I won't try and edit those files without asking first."},
        {"role": "user", "content": _AIDER_FILES},
        {"role": "assistant", "content": "Ok, any changes I propose will be to those files."},
        {"role": "user", "content": f"{task}\n\n{_AIDER_REMINDER}"},
    ]
    return Request(messages, agent="aider")


# --- Generic ------------------------------------------------------------------------------------------------------


def plain(task: str) -> Request:
    """A bare chat request: one user message."""
    return Request([{"role": "user", "content": task}])


WRAPPERS = {"none": plain, "claude_code": claude_code, "roo": roo, "aider": aider}


def wrap(task: str, kind: str) -> Request:
    """The request an agent of `kind` ("none", "claude_code", "roo", "aider") sends for `task`."""
    return WRAPPERS[kind](task)


def follow_up(request: Request, text: str) -> Request:
    """The person's next message after an assistant reply, in the same agent's shape."""
    reply = {"role": "assistant", "content": "Here is what I found and changed."}
    if request.agent == "claude_code":
        turn = {"role": "user", "content": [{"type": "text", "text": text}, {"type": "text", "text": _TODO_REMINDER}]}
    elif request.agent == "roo":
        mode = request.extra.get("mode", "code")
        turn = {
            "role": "user",
            "content": [
                {"type": "text", "text": f"<user_message>\n{text}\n</user_message>"},
                {"type": "text", "text": _roo_environment(mode)},
            ],
        }
    else:
        turn = {"role": "user", "content": text}
    return Request([*request.messages, reply, turn], system=request.system, agent=request.agent, extra=request.extra)
