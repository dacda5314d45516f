"""Benchmark: 1,000 concurrent users of one Exact Online connection's access token, 4 processes.

Starts its own server on 127.0.0.1 (the Exact sandbox; SQLite in a temp dir unless DATABASE_URL is
set) and uses REDIS_URL when given, else an embedded Redis. The sandbox runs a scaled clock: its
`token_seconds` knob makes access tokens live a few seconds and scales Exact's 570 s rule with them
(570/600 of the lifetime); the provider reads the lifetime from `expires_in`, so the same code runs.
Each process runs `users / processes` threads that ask the provider for the access token of the
same connection in a loop (`ExactOAuth.access_token`, the path every API call takes), through as
many expiries as fit in `--seconds`. On PostgreSQL the refresh holds the connection's row lock; on
SQLite a Redis lock takes its place.

Budget, read from the sandbox's token endpoint: exactly one refresh per expiry (every rotation at or
after the scaled 570 s mark, none missed, none late: each successor issued before its predecessor
expired, none refused as too early), 0 expired access tokens handed out to the users, 0 `Old
refresh token used`, 0 `invalid_grant`, 0 errors in the users, and the connection still active.
Expired hand-outs are judged twice: by the expiry we store and by the sandbox's own (ours counts
from when we hold the answer, so it is a round trip later). Exits 1 otherwise.

The refresh window is the last 30/600 of a token's life: 30 s at Exact, 0.5 s with the default 10 s
tokens, 0.15 s with 3 s tokens, which is less than one refresh round trip plus scheduling of 250
threads a process on a loaded 2-core machine (3 s tokens measured 3 late rotations on PostgreSQL).
    .venv/bin/python bench/exact_refresh.py [--users 1000] [--processes 4] [--seconds 60] [--token-seconds 10]
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import prepare, start_server, stop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--token-seconds", type=int, default=10)
    args = parser.parse_args()

    bench = prepare("exact-refresh")
    try:
        start_server(bench)
        return run(args)
    finally:
        stop(bench)


def users(pk: int, count: int, deadline: float, results: multiprocessing.Queue) -> None:
    """One process: `count` threads sharing nothing but the process (each has its own copy of the row)."""
    from django.db import connection, connections

    from connector.http import AuthExpired
    from connector.models import Connection
    from integrations.exact.oauth import provider

    connections.close_all()  # never reuse the parent's database connection after fork
    row = Connection.objects.get(pk=pk)
    connection.close()
    stats: Counter[str] = Counter()
    guard = threading.Lock()

    near_expiry: list[tuple[str, float]] = []  # hand-outs in a token's last second, by our clock

    def user(mine: Connection) -> None:
        seen: Counter[str] = Counter()
        rng = random.Random()
        while time.time() < deadline:
            try:
                token = provider.access_token(mine)
                now = time.time()
                seen["calls"] += 1
                expires_at = float(mine.credentials["expires_at"])
                if expires_at <= now:
                    seen["expired_token_handed_out"] += 1
                if expires_at - 1.0 <= now:  # the vendor's expiry is a little earlier than ours
                    near_expiry.append((token, now))
            except AuthExpired:
                seen["auth_expired"] += 1
            except Exception as exc:  # counted and reported
                seen[f"error:{type(exc).__name__}"] += 1
            finally:
                connection.close()
            time.sleep(rng.uniform(0.005, 0.03))  # the API call the token was for
        with guard:
            stats.update(seen)

    threads = [threading.Thread(target=user, args=(copy.deepcopy(row),)) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((dict(stats), near_expiry))


def expired_by_the_sandbox(hand_outs: list[tuple[str, float]]) -> int:
    """Hand-outs of an access token at or after the moment the sandbox says it expired."""
    from integrations.exact.sandbox.models import SandboxExactToken

    tokens = {token for token, _ in hand_outs}
    expiry = {
        token: expires_at.timestamp()
        for token, expires_at in SandboxExactToken.objects.filter(token__in=tokens).values_list("token", "expires_at")
    }
    return sum(1 for token, at in hand_outs if at >= expiry.get(token, float("inf")))


def run(args) -> int:
    import django

    django.setup()
    from django.db import connections

    from accounts.models import Organization
    from connector.models import Connection
    from connector.redis import get_redis
    from integrations.exact.sandbox import faults, state
    from integrations.exact.sandbox.models import SandboxExactToken, SandboxExactUser
    from integrations.exact.sandbox.oauth import issue, min_refresh_age

    redis = get_redis()
    redis.flushdb()
    org = Organization.objects.create(name="Bench")
    email = f"bench-{time.time_ns()}@exact.example"  # a fresh sandbox user: counters start at 0
    user, divisions = state.create_company("nl", email, "Bench BV", seed=False, organization=org)
    refused = faults.apply(divisions[0], {"token_seconds": args.token_seconds})  # the fault knob, in-process
    assert not refused, refused
    tokens = issue(user)
    now = time.time()
    connection = Connection.objects.create(
        organization=org,
        system="exact",
        label="Exact Online (NL)",
        credentials={
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "token_type": "bearer",
            "issued_at": now,
            "expires_at": now + int(tokens["expires_in"]),
        },
        settings={"country": "nl", "base_url": state.host("nl"), "division": divisions[0].code},
    )
    chain = SandboxExactToken.objects.get(token=tokens["access_token"]).chain
    connections.close_all()

    per_process = [args.users // args.processes + (n < args.users % args.processes) for n in range(args.processes)]
    started = time.time()
    deadline = started + args.seconds
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=users, args=(connection.pk, n, deadline, results)) for n in per_process]
    for p in processes:
        p.start()
    stats: Counter[str] = Counter()
    near_expiry: list[tuple[str, float]] = []
    for _ in processes:
        counted, late_hand_outs = results.get(timeout=args.seconds + 300)
        stats.update(counted)
        near_expiry += late_hand_outs
    for p in processes:
        p.join()
    elapsed = time.time() - started

    counters = SandboxExactUser.objects.get(pk=user.pk).counters
    refreshes = int(counters.get("refreshes", 0))
    old_used = int(counters.get("old_refresh_token", 0))
    too_early = int(counters.get("too_early", 0))
    invalid_grant = int(redis.get("sandbox:exact:nl:invalid_grant") or 0)
    issued = list(
        SandboxExactToken.objects.filter(chain=chain, kind="access")
        .order_by("issued_at")
        .values_list("issued_at", flat=True)
    )
    gaps = [(b - a).total_seconds() for a, b in zip(issued, issued[1:], strict=False)]
    rule = min_refresh_age(args.token_seconds)
    premature = sum(1 for g in gaps if g < rule)
    # Late: the token died before its successor existed (users calling then would get a 401).
    # Missed: a whole lifetime passed after the rule without a refresh.
    late = sum(1 for g in gaps if g > args.token_seconds)
    expired_at_vendor = expired_by_the_sandbox(near_expiry)
    missed = sum(1 for g in gaps if g >= rule + args.token_seconds)
    expiries = int(elapsed // args.token_seconds)
    errors = {k: v for k, v in stats.items() if k.startswith("error:")}
    status = Connection.objects.get(pk=connection.pk).status

    print(
        f"exact_refresh: {args.users} users in {args.processes} processes, {elapsed:.1f} s, "
        f"{args.token_seconds} s tokens (refresh rule {rule:.2f} s), {connections['default'].vendor}"
    )
    print(f"  token calls by users {stats['calls']}, errors {sum(errors.values())} {errors or ''}")
    print(f"  refreshes at the sandbox {refreshes}, access tokens issued {len(issued)} (elapsed lifetimes {expiries})")
    if gaps:
        print(f"  rotation interval min {min(gaps):.2f} s, mean {sum(gaps) / len(gaps):.2f} s, max {max(gaps):.2f} s")
    print(
        f"  premature rotations {premature}, missed expiries {missed}, "
        f"late (after the old token expired) {late} (budget 0)"
    )
    print(f"  TooEarlyToRefreshTokens {too_early}, Old refresh token used {old_used}, invalid_grant {invalid_grant}")
    print(
        f"  auth expired in users {stats['auth_expired']}, "
        f"expired tokens handed out {stats['expired_token_handed_out']} by our clock, "
        f"{expired_at_vendor} by the sandbox's expiry (budget 0)"
    )
    print(f"  connection status {status}")
    ok = (
        refreshes == len(issued) - 1
        and refreshes >= max(1, expiries - 1)
        and premature == 0
        and missed == 0
        and too_early == 0
        and old_used == 0
        and invalid_grant == 0
        and not errors
        and stats["auth_expired"] == 0
        and late == 0
        and stats["expired_token_handed_out"] == 0
        and expired_at_vendor == 0
        and stats["calls"] > 0
        and status == Connection.Status.ACTIVE
    )
    if not ok:
        print("OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
