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
