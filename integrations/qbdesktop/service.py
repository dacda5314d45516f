"""What each Web Connector call does (QBWC.md §1-2), independent of the SOAP plumbing in soap.py.

Session flow: serverVersion → clientVersion → authenticate → (sendRequestXML → receiveResponseXML)*
→ closeConnection, with getLastError after an empty sendRequestXML or a negative receiveResponseXML,
and connectionError when QuickBooks cannot be opened. Every call answers with a value from the
documented channel, never an exception: unknown tickets get "" / -1 and getLastError explains.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import redis
from django.db import transaction
from django.utils import timezone

from connector.models import Connection
from connector.ratelimit import Limit, RateLimiter
from integrations.qbdesktop import checks, jobs, qbxml
from integrations.qbdesktop.auth import check_login
from integrations.qbdesktop.models import QBWCSession, QBWCUser, QBXMLJob, ticket_digest

logger = logging.getLogger(__name__)

SERVER_VERSION = "Connector QBWC service 1.0"
SESSION_IDLE = timedelta(minutes=30)
NVU = "nvu"
NO_WORK = "none"
# Each authenticate costs a PBKDF2 hash (and the lockout only counts per user name): per client address
# at most this many attempts. A Web Connector logs in once per run, every minute at the most often,
# so even an office running many company files from one machine stays far below it.
AUTH_ATTEMPTS = Limit(requests=20, per_seconds=60.0, starts_full=True)  # our own allowance, not a vendor's pace
UNKNOWN_TICKET = (
    "This Web Connector session is unknown or has expired. The Web Connector logs in again on its next run."
)


def server_version() -> str:
    return SERVER_VERSION


def client_version(version: str | None) -> str:
    """ "" lets every Web Connector version proceed (QBWC.md §2); we only log which one called."""
    logger.info("qbwc clientVersion %s", (version or "")[:40])
    return ""


def _session(ticket: str | None, *, include_closed: bool = False) -> QBWCSession | None:
    if not ticket or len(ticket) > 200:
        return None
    session = (
        QBWCSession.objects.select_for_update(of=("self",))
        .select_related("connection", "current_job")
        .filter(ticket_hash=ticket_digest(ticket))
        .first()
    )
    if session is None:
        return None
    now = timezone.now()
    if session.closed_at is None and session.expires_at <= now:
        return None  # expired: the next authenticate recovers its jobs
    if session.closed_at is not None and not include_closed:
        return None
    if session.closed_at is None:
        session.last_seen_at = now
        session.expires_at = now + SESSION_IDLE
    return session


def _user_of(session: QBWCSession) -> QBWCUser:
    return QBWCUser.objects.get(connection_id=session.connection_id)


def _report_error(session: QBWCSession, message: str) -> None:
    """Keep the error for getLastError and show it on the connection's page."""
    now = timezone.now()
    session.last_error = message
    QBWCUser.objects.filter(connection_id=session.connection_id).update(last_error=message, last_error_at=now)
    Connection.objects.filter(pk=session.connection_id).update(last_error=message)


def _end_session(session: QBWCSession) -> None:
    if session.state == QBWCSession.State.WAITING_RESPONSE and session.current_job is not None:
        jobs.abandon_in_flight(session.current_job)
    session.state = QBWCSession.State.CLOSED
    session.current_job = None
    session.closed_at = session.closed_at or timezone.now()
    session.save()
    jobs.restart_orphaned_iterators(session.connection)


def authenticate_wait(client_address: str) -> float:
    """Take one login attempt from this address's bucket: 0.0, or the seconds until one is free."""
    try:
        return RateLimiter().try_acquire(f"qbwc-auth:{client_address}", AUTH_ATTEMPTS)
    except redis.RedisError:
        # Redis down is an outage of ours; the per-user lockout still holds, so let the login through.
        logger.warning("qbwc authenticate throttle unavailable (Redis error)")
        return 0.0


def authenticate(username: str | None, password: str | None) -> list[str]:
    login = check_login(username or "", password or "")
    if login.user is None:
        logger.info("qbwc authenticate refused (%s)", login.reason)
        return ["", NVU]  # never hand out a usable ticket with nvu
    user = login.user
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=user.connection_id)
        for stale in QBWCSession.objects.select_for_update().filter(connection=connection, closed_at=None):
            _end_session(stale)  # a run that never said goodbye: recover its in-flight job
        jobs.restart_orphaned_iterators(connection)
        ticket = secrets.token_hex(32)
        now = timezone.now()
        QBWCSession.objects.create(
            organization_id=connection.organization_id,
            connection=connection,
            ticket_hash=ticket_digest(ticket),
            expires_at=now + SESSION_IDLE,
        )
        QBWCUser.objects.filter(pk=user.pk).update(last_poll_at=now)
        checks.queue_run_checks(connection)  # deleted-transaction check with each batch / hourly
        work = jobs.has_work(connection)
    return [ticket, "" if work else NO_WORK]


def _check_company_file(session: QBWCSession, hcp_response: str) -> str:
    """Read the first call's HostQuery/CompanyQuery answers; "" when fine, else the error text."""
    try:
        host = qbxml.parse_host_response(hcp_response)
    except qbxml.HostileXML as exc:
        return f"QuickBooks' company information was refused: {exc}"
    user = _user_of(session)
    seen_file_id = host.file_ids.get(user.owner_id.lower())
    if seen_file_id and seen_file_id != user.file_id.lower():
        return (
            "This Web Connector user is linked to a different QuickBooks company file. "
            "Download the .qwc file again from the company file's own connection."
        )
    session.qbxml_version = qbxml.negotiate_version(host, None, None)
    return ""


def send_request_xml(
    ticket: str | None,
    hcp_response: str | None,
    company_file: str | None,
    country: str | None,
    major: int | None,
    minor: int | None,
) -> str:
    with transaction.atomic():
        session = _session(ticket)
        if session is None:
            return ""
        if hcp_response:
            problem = _check_company_file(session, hcp_response)
            if problem:
                _report_error(session, problem)
                session.save()
                return ""
        _note_client(session, company_file, major, minor)
        if session.state == QBWCSession.State.WAITING_RESPONSE and session.current_job is not None:
            jobs.abandon_in_flight(session.current_job)  # QBWC asked again: the last exchange was lost
        return _hand_out(session)


def _note_client(session: QBWCSession, company_file: str | None, major: int | None, minor: int | None) -> None:
    """The qbXML version (unless the HostQuery fixed it) and the company file the Web Connector names."""
    if not session.qbxml_version:
        session.qbxml_version = qbxml.negotiate_version(None, major, minor)
    if company_file:
        session.company_file = company_file[:500]
        QBWCUser.objects.filter(connection_id=session.connection_id).update(
            company_file=company_file[:500], last_poll_at=timezone.now()
        )


def _hand_out(session: QBWCSession) -> str:
    """The next due job as a qbXML message set, or "" (getLastError then says nothing is waiting)."""
    job = jobs.next_job(session)
    if job is None:
        session.state = QBWCSession.State.READY
        session.current_job = None
        session.last_error = session.last_error or "No more requests are waiting for QuickBooks."
        session.save()
        return ""
    jobs.mark_sent(job, session)
    session.state = QBWCSession.State.WAITING_RESPONSE
    session.current_job = job
    session.save()
    return qbxml.message_set([(str(job.pk), jobs.request_of(job))], version=session.qbxml_version)


def _progress(session: QBWCSession) -> int:
    remaining = jobs.remaining_estimate(session)
    if remaining == 0:
        return 100
    done = session.jobs_done
    return max(0, min(99, (100 * done) // (done + remaining)))


def receive_response_xml(ticket: str | None, response: str | None, hresult: str | None, message: str | None) -> int:
    with transaction.atomic():
        session = _session(ticket)
        if session is None:
            return -1
        job = session.current_job
        if session.state != QBWCSession.State.WAITING_RESPONSE or job is None:
            _report_error(session, "The Web Connector sent a response to a request we did not send.")
            session.save()
            return -1
        job = QBXMLJob.objects.select_for_update().get(pk=job.pk)
        session.state = QBWCSession.State.READY
        session.current_job = None
        session.jobs_done += 1
        if hresult or not response:
            jobs.fail_without_response(job, hresult or "", message or "QuickBooks returned no response.")
            _report_error(session, job.status_message)
            session.progress = -1
            session.save()
            return -1
        try:
            jobs.complete(job, session, response)
        except jobs.FatalResponse as exc:
            _report_error(session, str(exc))
            session.progress = -1
            session.save()
            return -1
        session.progress = _progress(session)
        session.save()
        return session.progress


def connection_error(ticket: str | None, hresult: str | None, message: str | None) -> str:
    with transaction.atomic():
        session = _session(ticket)
        if session is not None:
            text = f"The Web Connector could not open QuickBooks ({hresult or 'no code'}): {message or ''}".strip()
            _report_error(session, text)
            _end_session(session)
    return "done"  # do not retry: the merchant has to open QuickBooks or fix the file path


def get_last_error(ticket: str | None) -> str:
    with transaction.atomic():
        session = _session(ticket, include_closed=True)
        if session is None:
            return UNKNOWN_TICKET
        session.save(update_fields=["last_seen_at", "expires_at"])
        return session.last_error or "No error was recorded for this session."


def close_connection(ticket: str | None) -> str:
    with transaction.atomic():
        session = _session(ticket, include_closed=True)
        if session is None:
            return "OK"
        already_closed = session.closed_at is not None
        if not already_closed:
            _end_session(session)
        QBWCUser.objects.filter(connection_id=session.connection_id).update(last_poll_at=timezone.now())
        if session.last_error and session.progress < 0:
            return f"Finished with an error: {session.last_error}"[:500]
        if session.progress == 100 and not already_closed:
            # A clean, complete run clears the error shown on the connection page.
            QBWCUser.objects.filter(connection_id=session.connection_id).update(last_error="", last_error_at=None)
        return f"OK: {session.jobs_done} request(s) processed."
