"""The in-process view of a conversation with exchanges not yet written (context.conversation.with_pending):
the same state as digesting every message of every exchange, while digesting only what the state keeps."""

from __future__ import annotations

import random

import pytest

from context.conversation import TAIL, Stored, Virtual, plan, with_pending
from context.text import message_digest


def _reference(virtual: Virtual, pairs: list[tuple[str, str]], turns: list[dict], answer: dict,
               request_id: str) -> tuple[Virtual, list[tuple[str, str]]]:
    """Every message digested, and the state read off the whole list of (digest, request id) pairs: its length,
    its first digest, its last TAIL pairs. Nothing of context.conversation but `plan`."""
    step = plan(virtual.stored, lambda i: message_digest(turns[i]), len(turns))
    if step.mode.value == "history":
        new = [*turns[step.new_from:], answer]
        pairs = [*pairs, *((message_digest(message), request_id) for message in new)]
        extra, from_rows = [*virtual.extra, *new], virtual.from_rows
    else:
        extra, from_rows = [*turns, answer], 0
        pairs = [(message_digest(message), request_id) for message in extra]
    stored = Stored(len(pairs), pairs[0][0] if pairs else "", tuple(pairs[-TAIL:]))
    return Virtual(stored, from_rows, extra), pairs


def _message(role: str, n: int) -> dict:
    return {"role": role, "content": f"{role} message number {n}"}


@pytest.mark.parametrize("seed", range(40))
def test_pending_exchanges_give_the_state_the_writer_stores(seed: int) -> None:
    rng = random.Random(seed)
    conversation: list[dict] = []
    virtual = Virtual.of(Stored())
    expected, pairs = virtual, []
    for exchange in range(rng.randint(1, 6)):
        user = _message("user", len(conversation))
        if rng.random() < 0.5:  # an agent: the whole conversation so far, then the new turn
            turns = [*conversation, user]
        else:  # a chat client: only its latest turn(s), sometimes with the last answer repeated
            turns = [*conversation[-rng.randint(0, 2):], user] if conversation and rng.random() < 0.5 else [user]
        answer = _message("assistant", len(conversation) + 1)
        digested: list[int] = []

        def digest_at(index: int, turns: list[dict] = turns, digested: list[int] = digested) -> str:
            digested.append(index)
            return message_digest(turns[index])

        virtual = with_pending(virtual, turns, answer, f"req-{exchange}", digest_at, message_digest)
        expected, pairs = _reference(expected, pairs, turns, answer, f"req-{exchange}")
        assert virtual == expected
        conversation = [*conversation, user, answer]
        assert len(set(digested)) <= TAIL + 2 + min(len(turns), TAIL)  # never the whole conversation


def test_a_long_agent_conversation_is_not_digested_whole() -> None:
    conversation = [_message("user" if i % 2 == 0 else "assistant", i) for i in range(400)]
    digested: set[int] = set()

    def digest_at(index: int) -> str:
        digested.add(index)
        return message_digest(conversation[index])

    answers: list[dict] = []

    def digest(message: dict) -> str:
        answers.append(message)
        return message_digest(message)

    virtual = with_pending(Virtual.of(Stored()), conversation, _message("assistant", 400), "req", digest_at, digest)
    assert virtual.stored.count == 401 and len(virtual.extra) == 401
    assert virtual.stored.first == message_digest(conversation[0])
    assert len(digested) + len(answers) <= TAIL + 1
