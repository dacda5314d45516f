"""gunicorn settings for the web process (Procfile: `gunicorn -c gunicorn.conf.py connector.wsgi:application`).

gunicorn also reads this file by default when started from the project folder (the benchmarks rely
on that); command-line options override it. Environment: HOST, PORT, WEB_CONCURRENCY (workers),
GUNICORN_THREADS, GUNICORN_MAX_REQUESTS, GUNICORN_MAX_REQUESTS_JITTER.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# A worker that grows (a leak, a fragmented heap after a large request) is replaced after this many
# requests; the jitter staggers the restarts so the workers never recycle at the same moment.
# 50,000 bounds a slow leak without costing webhook throughput (5,000 cost ~15% in bench/webhook_ingest.py).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "5000"))

# The access log masks tokens in paths, queries and referers (webhook URLs, invitation links,
# password-reset keys): connector.logs.GunicornLogger.
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
logger_class = "connector.logs.GunicornLogger"


def post_worker_init(worker) -> None:
    """Move everything loaded at start-up (Django, the apps, the URLconf: hundreds of thousands of
    objects that live as long as the worker) out of the garbage collector's reach, so the occasional
    full collection walks only what requests allocate, not the whole app (a pause that lands in the
    webhook path's p99)."""
    import gc

    gc.collect()
    gc.freeze()
