"""Engine CPU per record with vendors that answer instantly. Budget: median ≤ 5 ms.

Measures process CPU time (not wall time) of `engine.sync_record` for fresh orders (create path)
and for re-runs (unchanged path) through in-memory fake systems, so only our own code is timed.
"""

from __future__ import annotations

import statistics
import sys
import time

from _django import setup_django

BUDGET_MS = 5.0
N = 400


def main() -> int:
    setup_django("engine")
    from accounts.models import Organization
    from connector import engine
    from connector.models import Connection, Flow
    from tests.connector import fake_systems
    from tests.connector.fake_systems import WORLD

    fake_systems.register_fakes()
    org = Organization.objects.create(name="Bench")
    src = Connection.objects.create(organization=org, system="fakesrc", label="Store")
    tgt = Connection.objects.create(organization=org, system="faketgt", label="Books")
    flow = Flow.objects.create(organization=org, preset="fake_flow", source=src, target=tgt, enabled=True)
    for i in range(N):
        WORLD.add_order(f"B{i:05d}", total=f"{10 + i % 90}.{i % 100:02d}")
    queued: list[int] = []
    engine.run_flow(flow, enqueue=queued.append)

    def timed(ids):
        samples = []
        for pk in ids:
            start = time.process_time()
            engine.sync_record(pk)
            samples.append((time.process_time() - start) * 1000)
        return samples

    create = timed(queued)
    rerun = timed(queued)
    assert WORLD.creates == N, WORLD.creates
    create_median, rerun_median = statistics.median(create), statistics.median(rerun)
    print(f"engine_overhead: {N} records")
    print(f"  create path  median {create_median:.2f} ms CPU  p95 {sorted(create)[int(N * 0.95)]:.2f} ms")
    print(f"  unchanged    median {rerun_median:.2f} ms CPU")
    print(f"  budget       median <= {BUDGET_MS} ms")
    if create_median > BUDGET_MS:
        print("OVER BUDGET")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
