"""Engine CPU per record with vendors that answer instantly. Budget: median ≤ 5 ms.

Measures process CPU time (not wall time) of what the engine does for one order: `record_change`
(the poll or webhook recording the change) plus `sync_record` (the write), for fresh orders (create
path) and for the same changes seen again (unchanged path: the change is recognised as nothing new,
and a re-run of the record finds nothing to write), through in-memory fake systems, so only our own
code (and the database driver) is timed. Mean and median are reported; the budget is on the median.
The machine is shared and noisy, so it runs TRIALS batches and judges the best batch median:
interference only ever adds time.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime

from _django import setup_django

BUDGET_MS = 5.0
N = 300
TRIALS = 3


def cpu_ms(call, *args) -> tuple[float, object]:
    start = time.process_time()
    result = call(*args)
    return (time.process_time() - start) * 1000, result


def one_trial(org, src, tgt, trial: int) -> tuple[list[float], list[float]]:
    """(create path, unchanged path) CPU ms per record, `record_change` and `sync_record` together."""
    from django.utils import timezone

    from connector import engine
    from connector.models import Flow
    from tests.connector.fake_systems import WORLD

    flow = Flow.objects.create(organization=org, preset="fake_flow", source=src, target=tgt, enabled=True)
    WORLD.__init__()
    for i in range(N):
        WORLD.add_order(f"T{trial}-{i:05d}", total=f"{10 + i % 90}.{i % 100:02d}")
    source = engine.source_adapter(src, options=flow.options)
    changes = list(source.changes_since("order", datetime(2000, 1, 1, tzinfo=UTC), timezone.now()))
    assert len(changes) == N, len(changes)
    creates, reruns, ids = [], [], []
    for change in changes:
        recorded, record = cpu_ms(engine.record_change, flow, change)
        synced, _ = cpu_ms(engine.sync_record, record.pk)
        creates.append(recorded + synced)
        ids.append(record.pk)
    for change, pk in zip(changes, ids, strict=True):
        recorded, again = cpu_ms(engine.record_change, flow, change)
        assert again is None, "an unchanged, synced order must not be recorded again"
        synced, _ = cpu_ms(engine.sync_record, pk)
        reruns.append(recorded + synced)
    assert WORLD.creates == N, WORLD.creates
    return creates, reruns


def line(name: str, trials: list[list[float]]) -> str:
    medians = ", ".join(f"{statistics.median(t):.2f}" for t in trials)
    means = ", ".join(f"{statistics.fmean(t):.2f}" for t in trials)
    best = min(statistics.median(t) for t in trials)
    return f"  {name:<12} median {medians} (best {best:.2f}); mean {means}"


def main() -> int:
    setup_django("engine")
    from accounts.models import Organization
    from connector.models import Connection
    from tests.connector import fake_systems

    fake_systems.register_fakes()
    org = Organization.objects.create(name="Bench")
    src = Connection.objects.create(organization=org, system="fakesrc", label="Store")
    tgt = Connection.objects.create(organization=org, system="faketgt", label="Books")
    creates, reruns = [], []
    for trial in range(TRIALS):
        create, rerun = one_trial(org, src, tgt, trial)
        creates.append(create)
        reruns.append(rerun)
    best = min(statistics.median(t) for t in creates)
    print(f"engine_overhead: {TRIALS} trials x {N} records, record_change + sync_record (ms CPU per record)")
    print(line("create path", creates))
    print(line("unchanged", reruns))
    print(f"  budget       median <= {BUDGET_MS}")
    if best > BUDGET_MS:
        print("OVER BUDGET")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
