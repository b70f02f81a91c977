"""Authentication and authorization rules, on the pure functions the hot path calls."""

from __future__ import annotations

import hmac

import pytest

from apikeys.access import (
    ANONYMOUS,
    Access,
    AuthenticationFailed,
    KeySnapshot,
    KeySpec,
    PermissionDenied,
    authenticate,
    authorize,
    is_loopback,
    permitted,
    presented_key,
)
from apikeys.keyformat import digest, generate_key, prefix_of
from providers.specs import ModelSpec, ProviderSpec
from routing.selection import Candidate

NOW = 1_800_000_000.0


def make_key(**fields) -> tuple[str, KeySpec]:
    plaintext, prefix, hashed = generate_key()
    return plaintext, KeySpec(prefix=prefix, name="test", digest=hashed, **fields)


def snapshot_of(*specs: KeySpec) -> KeySnapshot:
    return KeySnapshot(keys={spec.prefix: spec for spec in specs})


def test_generated_keys_are_unique_and_carry_their_prefix():
    keys = {generate_key()[0] for _ in range(200)}
    assert len(keys) == 200
    plaintext, prefix, hashed = generate_key()
    assert plaintext.startswith(prefix + "_") and len(plaintext) > 50
    assert prefix_of(plaintext) == prefix and hashed == digest(plaintext) and plaintext not in hashed


@pytest.mark.parametrize("value", ["", "x", "sk-openai-key", "gwk_short", "gwk_12345678", "gwk_12345678-abc"])
def test_values_not_shaped_like_gateway_keys_have_no_prefix(value):
    assert prefix_of(value) is None


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"authorization": "Bearer gwk_abc"}, "gwk_abc"),
        ({"authorization": "bearer   gwk_abc  "}, "gwk_abc"),
        ({"authorization": "gwk_abc"}, "gwk_abc"),
        ({"x-api-key": "gwk_abc"}, "gwk_abc"),
        ({}, None),
    ],
)
def test_the_key_comes_from_a_bearer_token_or_x_api_key(headers, expected):
    assert presented_key(headers) == expected


def test_a_valid_key_authenticates():
    plaintext, spec = make_key()
    assert authenticate(snapshot_of(spec), plaintext, anonymous_allowed=False, now=NOW).key == spec


@pytest.mark.parametrize("presented", [None, "", "x", "Bearer", "gwk_AAAAAAAA_nope"])
def test_missing_malformed_or_unknown_keys_get_401(presented):
    _, spec = make_key()
    with pytest.raises(AuthenticationFailed) as raised:
        authenticate(snapshot_of(spec), presented, anonymous_allowed=False, now=NOW)
    assert raised.value.status == 401 and raised.value.code == "invalid_api_key"


def test_a_known_prefix_with_the_wrong_secret_gets_the_same_answer_as_an_unknown_key():
    plaintext, spec = make_key()
    forged = plaintext[:-4] + "AAAA"
    answers = []
    for presented in (forged, "gwk_ZZZZZZZZ_" + "A" * 40):
        with pytest.raises(AuthenticationFailed) as raised:
            authenticate(snapshot_of(spec), presented, anonymous_allowed=False, now=NOW)
        answers.append(raised.value.body())
    assert answers[0] == answers[1]


def test_known_and_unknown_keys_both_pay_one_constant_time_digest_comparison(monkeypatch):
    plaintext, spec = make_key()
    calls = []
    real_compare = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real_compare(a, b)

    monkeypatch.setattr("apikeys.access.hmac.compare_digest", spy)
    for presented in (plaintext[:-1] + "x", "gwk_ZZZZZZZZ_" + "A" * 40, plaintext):
        try:
            authenticate(snapshot_of(spec), presented, anonymous_allowed=False, now=NOW)
        except AuthenticationFailed:
            pass
    assert calls == [(64, 64)] * 3


def test_revoked_and_expired_keys_get_401_naming_the_reason():
    revoked_text, revoked = make_key(revoked=True)
    expired_text, expired = make_key(expires_at=NOW - 1)
    live_text, live = make_key(expires_at=NOW + 60)
    snapshot = snapshot_of(revoked, expired, live)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        authenticate(snapshot, revoked_text, anonymous_allowed=False, now=NOW)
    with pytest.raises(AuthenticationFailed, match="expired"):
        authenticate(snapshot, expired_text, anonymous_allowed=False, now=NOW)
    assert authenticate(snapshot, live_text, anonymous_allowed=False, now=NOW).key == live


def test_local_mode_accepts_no_key_or_any_placeholder_but_still_checks_gateway_keys():
    plaintext, spec = make_key(rpm_limit=5)
    snapshot = snapshot_of(spec)
    assert authenticate(snapshot, None, anonymous_allowed=True, now=NOW) is ANONYMOUS
    assert authenticate(snapshot, "any value", anonymous_allowed=True, now=NOW) is ANONYMOUS
    assert authenticate(snapshot, plaintext, anonymous_allowed=True, now=NOW).key == spec
    with pytest.raises(AuthenticationFailed):
        authenticate(snapshot, "gwk_ZZZZZZZZ_" + "A" * 40, anonymous_allowed=True, now=NOW)


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("127.0.0.5", True), ("::1", True), ("10.0.0.1", False), ("", False), (None, False),
     ("localhost", False), ("203.0.113.9", False)],
)
def test_only_loopback_clients_count_as_local(host, loopback):
    assert is_loopback(host) is loopback


def test_a_key_pins_its_profile():
    _, spec = make_key(profile="work")
    access = authorize_access(spec)
    assert authorize(access, profile=None, role="general", model="auto", auto=True) == "work"
    assert authorize(access, profile="work", role="general", model="auto", auto=True) == "work"
    with pytest.raises(PermissionDenied) as raised:
        authorize(access, profile="personal", role="general", model="auto", auto=True)
    assert raised.value.status == 403 and raised.value.code == "profile_not_allowed"


def test_a_key_without_a_profile_lets_the_request_choose():
    _, spec = make_key()
    assert authorize(authorize_access(spec), profile="personal", role="general", model="x", auto=False) == "personal"


def test_roles_and_models_outside_the_key_get_403():
    _, spec = make_key(allowed_roles=frozenset({"debugging"}), allowed_models=("fast-model", "nanogpt/*"))
    access = authorize_access(spec)
    assert authorize(access, profile=None, role="debugging", model="nanogpt/llama", auto=False) is None
    with pytest.raises(PermissionDenied) as raised:
        authorize(access, profile=None, role="architect", model="auto", auto=True)
    assert raised.value.code == "role_not_allowed"
    with pytest.raises(PermissionDenied) as raised:
        authorize(access, profile=None, role="debugging", model="smart-model", auto=False)
    assert raised.value.code == "model_not_allowed" and raised.value.param == "model"


def test_auto_routing_only_uses_the_models_a_key_allows():
    _, spec = make_key(allowed_models=("fast-*",))
    provider = ProviderSpec("p", "openai", "http://127.0.0.1:1", "paid", 5.0, True, "")
    candidates = [
        Candidate(ModelSpec(public_id=name, provider="p", upstream_name=name), provider, "primary")
        for name in ("smart-model", "fast-model", "fast-mini")
    ]
    chosen = permitted(authorize_access(spec), candidates)
    assert [candidate.model.public_id for candidate in chosen] == ["fast-model", "fast-mini"]
    assert permitted(ANONYMOUS, candidates) == candidates
    _, strict = make_key(allowed_models=("other",))
    with pytest.raises(PermissionDenied):
        permitted(authorize_access(strict), candidates)


def authorize_access(spec: KeySpec) -> Access:
    return Access(spec)
