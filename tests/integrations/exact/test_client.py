"""ExactClient against the sandbox: envelopes, paging, rate-limit headers (ms), 429s, 4xx errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from connector.http import Permanent, RateLimited, RefusedURL
from connector.redis import get_redis
from integrations.exact.client import ExactClient, reset_in_seconds
from integrations.exact.sandbox import state
from tests.sandbox_session import member_of

pytestmark = pytest.mark.django_db(transaction=True)


def set_faults(base, division, **knobs):
    answer = member_of(division.user.organization).post(
        f"{base}/sandbox/exact/_control/faults", json={"division": division.code, **knobs}, timeout=5
    )
    assert answer.status_code == 200, answer.text


def test_reset_headers_are_epoch_milliseconds():
    now = 1_700_000_000.0
    assert reset_in_seconds(1_700_000_030_000, now) == 30.0
    assert reset_in_seconds(None, now) == 0.0


def test_rate_limit_headers_are_read_and_shared(exact_connection, company):
    client = ExactClient(exact_connection)
    client.gl_accounts()
    limits = client.last_limits
    assert limits["minutely_limit"] == 60 and limits["daily_limit"] == 5000
    assert len(str(limits["minutely_reset"])) == 13 and 0 < reset_in_seconds(limits["minutely_reset"]) <= 61
    assert limits["minutely_remaining"] == 59
    bucket = get_redis().hgetall(f"rl:exact:nl:{company.code}:min")
    assert float(bucket[b"tokens"]) <= 59


def test_paging_follows_next_across_pages(exact_connection, company):
    so = state.find(company, "SalesOrders", OrderNumber=1)
    for n in range(3, 73):
        state.add_sales_order(company, n, so["OrderedBy"], so["DeliveryAddress"], "x", (1,))
    client = ExactClient(exact_connection)
    since = __import__("datetime").datetime(2000, 1, 1, tzinfo=__import__("datetime").UTC)
    numbers = [row["OrderNumber"] for row in client.sales_orders_modified_since(since)]
    assert sorted(numbers) == list(range(1, 73))
    assert client.calls == 2  # 60 + 12


def test_next_to_another_host_is_refused(exact_connection):
    client = ExactClient(exact_connection)
    with pytest.raises(RefusedURL):
        list(client.iter_results("https://evil.example/api/v1/1/salesorder/SalesOrders"))


def test_headers_throttle_every_worker_before_exact_says_429(exact_connection, company, exact_base):
    set_faults(exact_base, company, minutely_limit=1)
    client = ExactClient(exact_connection)
    client.max_rate_wait = 0  # do not wait in the test
    client.items()
    other_worker = ExactClient(exact_connection)
    other_worker.max_rate_wait = 0
    with pytest.raises(RateLimited) as caught:
        other_worker.items()  # the shared bucket (from X-RateLimit-Minutely-*) stops it before a call
    assert 0 < caught.value.retry_after <= 61 and other_worker.calls == 0


def test_minutely_429_blocks_the_shared_bucket_with_only_minutely_headers(exact_connection, company, exact_base):
    set_faults(exact_base, company, rate_429=1.0, seed=7)
    client = ExactClient(exact_connection)
    client.max_inline_retry_after = 0  # do not sleep in the test
    with pytest.raises(RateLimited) as caught:
        client.items()
    assert 1 < caught.value.retry_after <= 63 and client.calls == 1
    assert float(get_redis().hget(f"rl:exact:nl:{company.code}:min", "blocked")) > time.time()
    raw = requests.get(
        f"{client.base_url}logistics/Items",
        headers={"Authorization": f"Bearer {exact_connection.credentials['access_token']}"},
        timeout=5,
    )
    assert raw.status_code == 429 and raw.json()["error"]["message"]["value"].startswith("API rate limit")
    assert "X-RateLimit-Minutely-Reset" in raw.headers and "X-RateLimit-Reset" not in raw.headers


def test_4xx_is_a_typed_error_with_exacts_message_and_is_not_retried(exact_connection, company):
    client = ExactClient(exact_connection)
    with pytest.raises(Permanent) as caught:
        client.create_journal_entry({"JournalCode": "90", "GeneralJournalEntryLines": []})
    assert caught.value.message == "Mandatory: GeneralJournalEntryLines" and caught.value.status == 400
    assert client.calls == 1
    with pytest.raises(Permanent) as bad_filter:
        client.list("crm/Accounts", select="ID", filter="Name eq")
    assert "Error parsing filter" in bad_filter.value.message


def test_error_body_fixture_is_read():
    body = json.loads((Path(__file__).parent / "fixtures" / "error_body.json").read_text())
    response = requests.Response()
    response.status_code = 400
    response._content = json.dumps(body).encode()
    assert ExactClient.error_message(object.__new__(ExactClient), response) == body["error"]["message"]["value"]
