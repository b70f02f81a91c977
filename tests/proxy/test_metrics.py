"""/metrics through real gateway processes, read with prometheus_client's own parser: the numbers match the
requests sent, the endpoint is protected like /status (or by METRICS_TOKEN), and under several processes
sharing PROMETHEUS_MULTIPROC_DIR (as scripts/up runs them) any process reports them all."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import dedicated_gateway

TOKEN = "scrape-3f9c1e"


def scrape(url: str, token: str | None = TOKEN) -> dict[str, list]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def total(families: dict, name: str, sample: str | None = None, **labels: str) -> float:
    return sum(s.value for s in families.get(name, []) if (sample is None or s.name == sample)
               and all(s.labels.get(key) == value for key, value in labels.items()))


def send(base_url: str, count: int, **body) -> None:
    with httpx.Client(base_url=base_url, timeout=20) as http:
        for index in range(count):
            payload = {"model": "fast-model", "messages": [{"role": "user", "content": f"metrics {index}"}], **body}
            with http.stream("POST", "/chat/completions", json=payload) as response:
                response.read()
            assert response.status_code == 200


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_metrics_from_two_processes_sharing_a_multiprocess_directory(routing, upstream, tmp_path):
    upstream.reset()
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"), "METRICS_TOKEN": TOKEN}
    (tmp_path / "prometheus").mkdir()
    with dedicated_gateway(tmp_path, GATEWAY_ALLOW_ANONYMOUS="false", **shared) as locked, \
            dedicated_gateway(tmp_path, **shared) as open_:
        open_.sync_config()
        # protected: no token, or a wrong one (taken for a gateway key, which it is not)
        assert httpx.get(f"{locked.url}/metrics", timeout=5).status_code == 401
        wrong = {"authorization": "Bearer nope"}
        assert httpx.get(f"{locked.url}/metrics", headers=wrong, timeout=5).status_code == 401

        send(open_.base_url, 3)
        send(open_.base_url, 2, stream=True, role="debugging")

        def counted():
            families = scrape(locked.url)  # the other process answers for both
            return families if total(families, "gateway_requests", "gateway_requests_total") == 5 else None

        families = wait_for(counted)
        assert families, "the requests never showed up in the other process's /metrics"
        assert total(families, "gateway_requests", "gateway_requests_total", model="fast-model", provider="mockai",
                     status="ok") == 5
        assert total(families, "gateway_requests", "gateway_requests_total", role="debugging") == 2
        assert total(families, "gateway_tokens", "gateway_tokens_total", kind="prompt") > 0
        assert total(families, "gateway_cost_dollars", "gateway_cost_dollars_total") > 0
        assert total(families, "gateway_request_latency_seconds", "gateway_request_latency_seconds_count") == 5
        assert total(families, "gateway_time_to_first_token_seconds",
                     "gateway_time_to_first_token_seconds_count") == 2
        assert total(families, "gateway_overhead_seconds", "gateway_overhead_seconds_count") == 5
        assert total(families, "gateway_upstream_attempts", "gateway_upstream_attempts_total", result="ok") == 5
        assert wait_for(lambda: total(scrape(locked.url), "gateway_usage_rows_written",
                                      "gateway_usage_rows_written_total") == 5)
        pending = families["gateway_usage_rows_pending"]
        assert pending and all("pid" in s.labels for s in pending)
        circuits = {s.labels["provider"]: s.value for s in families["gateway_circuit_state"]}
        assert circuits.get("mockai") == 0  # closed
        assert "gateway_quota_remaining_tokens" in families


def test_metrics_of_a_single_process_with_a_local_mode_caller(gateway, upstream):
    send(gateway.base_url, 2)
    families = wait_for(lambda: (f := scrape(gateway.url, token=None)) and
                        total(f, "gateway_requests", "gateway_requests_total") >= 2 and f)
    assert families and total(families, "gateway_requests", "gateway_requests_total", model="fast-model") >= 2
    assert "process_cpu_seconds" in families  # this process's own collectors
