"""Production settings: `check --deploy` is clean with the documented environment, unsafe ones refuse to start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = ROOT / "deploy" / "production.env"


def documented_env() -> dict[str, str]:
    env = {}
    for line in PRODUCTION_ENV.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def manage(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run manage.py with exactly `env` (plus PATH): nothing leaks in from the test run's environment."""
    full_env = {"PATH": os.environ.get("PATH", ""), **env, "GATEWAY_DATA_DIR": str(tmp_path),
                "STATIC_ROOT": str(tmp_path / "static")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=120)


def test_check_deploy_is_clean_with_the_documented_production_env(tmp_path):
    env = {**documented_env(), "SECRET_KEY": secrets.token_urlsafe(50)}
    result = manage(tmp_path, env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_secret_key_refuses_to_start(tmp_path):
    env = {**documented_env(), "SECRET_KEY": ""}
    result = manage(tmp_path, env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when GATEWAY_ENV=production" in result.stderr
    assert not (tmp_path / "secret_key").exists()  # no silently generated per-machine key


@pytest.mark.parametrize(("override", "message"), [
    ({"DEBUG": "true"}, "DEBUG must be off when GATEWAY_ENV=production"),
    ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must be set when GATEWAY_ENV=production"),
    ({"GATEWAY_ENV": "staging"}, "GATEWAY_ENV='staging' is not one of: local, production"),
    ({"GATEWAY_ALLOW_ANONYMOUS": "true"}, "GATEWAY_ALLOW_ANONYMOUS=true is a local single-user mode"),
])
def test_unsafe_production_settings_refuse_to_start(tmp_path, override, message):
    env = {**documented_env(), "SECRET_KEY": secrets.token_urlsafe(50), **override}
    result = manage(tmp_path, env, "check")
    assert result.returncode != 0 and message in result.stderr


def test_local_defaults_need_no_configuration(tmp_path):
    result = manage(tmp_path, {}, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "secret_key").exists()




def test_processes_starting_at_once_on_a_fresh_checkout_share_one_secret_key(tmp_path, monkeypatch):
    """The server and a worker (or parallel test runners) that start together must not each keep a key of
    their own: sessions and signed tokens of one would be refused by the other. The race is forced: while this
    process draws its key, another one (the nested call) finds no file, writes its own and goes on with it."""
    from gateway_project import settings as module

    monkeypatch.setattr(module, "DATA_DIR", tmp_path)
    draw = module.secrets.token_urlsafe
    other_process: list[str] = []

    def token_urlsafe(size: int) -> str:
        if not other_process:
            other_process.append("")
            other_process[0] = module._local_secret_key()
        return draw(size)

    monkeypatch.setattr(module.secrets, "token_urlsafe", token_urlsafe)
    this_process = module._local_secret_key()
    assert this_process == other_process[0] == (tmp_path / "secret_key").read_text().strip()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["secret_key"]  # no draft left behind
