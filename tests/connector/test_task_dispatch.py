"""connector.dispatch: domain code queues Celery tasks by name, without importing the task modules."""

from __future__ import annotations

from celery import current_app

from connector import dispatch, tasks


def test_a_registered_task_is_sent_through_its_own_delay(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.poll_flow, "delay", lambda *a, **kw: sent.append((a, kw)))
    dispatch.send(dispatch.POLL_FLOW, 7)
    assert sent == [((7,), {})]


def test_a_task_not_imported_in_this_process_is_sent_by_name(monkeypatch):
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args, kwargs: sent.append((name, args, kwargs)))
    dispatch.send("elsewhere.tasks.not_loaded_here", 1, flag=True)
    assert sent == [("elsewhere.tasks.not_loaded_here", (1,), {"flag": True})]


def test_the_names_are_the_tasks_own():
    for name in (dispatch.SYNC_RECORD, dispatch.POLL_FLOW, dispatch.DRAIN_INBOX, dispatch.PROCESS_DELIVERY):
        assert current_app.tasks[name].name == name


def test_enqueue_sync_sends_sync_record_after_commit(monkeypatch, django_capture_on_commit_callbacks, db):
    sent = []
    monkeypatch.setattr(tasks.sync_record, "delay", lambda *a, **kw: sent.append((a, kw)))
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch.enqueue_sync(11) is True
        assert sent == []  # nothing leaves before the record's transaction commits
    assert sent == [((11,), {"replay": False})]


def test_integration_tasks_are_routed_and_scheduled_from_the_registry(settings):
    """Settings name only the core's routes and beat entries; the systems add theirs (registry)."""
    from connector.celery import beat_schedule, route_by_registry
    from connector.registry import periodic_tasks, task_routes

    assert task_routes() and periodic_tasks()  # the installed integrations contribute some
    pattern, queue = task_routes()[0]
    assert route_by_registry(pattern.replace("*", "some_task")) == {"queue": queue}
    assert route_by_registry("connector.tasks.sync_record") is None  # core routes stay in settings
    schedule = beat_schedule(settings.CELERY_BEAT_SCHEDULE)
    assert set(settings.CELERY_BEAT_SCHEDULE) < set(schedule)
    for periodic in periodic_tasks():
        assert schedule[periodic.name] == {"task": periodic.task, "schedule": periodic.schedule}


def test_the_celery_app_routes_through_the_registry():
    from connector.celery import app

    router = app.amqp.Router()
    from connector.registry import task_routes

    for pattern, queue in task_routes():
        route = router.route({}, pattern.replace("*", "some_task"), args=(), kwargs={})
        assert route["queue"].name == queue


def test_beat_schedules_the_integrations_periodic_tasks(tmp_path, settings):
    from connector.celery import RegistryScheduler, app
    from connector.registry import periodic_tasks

    assert app.conf.beat_scheduler == "connector.celery:RegistryScheduler"  # what `celery beat` runs
    scheduler = RegistryScheduler(app=app, schedule_filename=str(tmp_path / "beat"), lazy=False)
    try:
        expected = {*settings.CELERY_BEAT_SCHEDULE, *(periodic.name for periodic in periodic_tasks())}
        assert expected <= set(scheduler.schedule)
    finally:
        scheduler.close()


def test_polls_have_a_queue_of_their_own_that_every_sync_worker_takes():
    """Polls, and the beat task that queues them, never wait behind a backlog of sync work; a worker
    that takes sync work takes polls too, or polls would wait for nobody."""
    import re
    from pathlib import Path

    from connector.celery import app

    router = app.amqp.Router()
    for name in (dispatch.POLL_FLOW, "connector.tasks.dispatch_due_flows"):
        assert router.route({}, name, args=(), kwargs={})["queue"].name == "polls"
    assert router.route({}, dispatch.SYNC_RECORD, args=(), kwargs={})["queue"].name == "sync"
    root = Path(__file__).resolve().parents[2]
    queue_lists = [
        set(found.split(","))
        for path in ("Procfile", "tests/e2e/conftest.py", "bench/_harness.py")
        for found in re.findall(r"[\w,]*\bsync\b[\w,]*", (root / path).read_text())
        if "," in found
    ]
    assert len(queue_lists) == 3 and all("polls" in queues for queues in queue_lists)


def test_the_sweep_of_lost_work_runs_on_the_light_polls_queue_every_worker_takes():
    """The beat sweep that queues lost work again never waits behind a backlog of webhook deliveries
    or sync work (it once waited behind 65 copies of work on the webhooks queue): it goes to "polls",
    and every worker that takes webhooks or sync work takes polls too."""
    import re
    from pathlib import Path

    from connector import tasks
    from connector.celery import app

    router = app.amqp.Router()
    assert router.route({}, tasks.requeue_pending_work.name, args=(), kwargs={})["queue"].name == "polls"
    root = Path(__file__).resolve().parents[2]
    worker_queues = [
        set(found.split(","))
        for path in ("Procfile", "tests/e2e/conftest.py", "bench/_harness.py")
        for found in re.findall(r"[\w,]*\b(?:sync|webhooks)\b[\w,]*", (root / path).read_text())
        if "," in found
    ]
    assert worker_queues and all("polls" in queues for queues in worker_queues)
    (procfile_worker,) = re.findall(r"^worker: .*--queues ([\w,]+)", (root / "Procfile").read_text(), re.M)
    assert "polls" in procfile_worker.split(",")
