"""gunicorn settings shared by `make run`, the Docker image and Kubernetes."""

import logging
import os
import tempfile

import environ

from healthexport.dotenv import read_dotenv

# .env as the settings read it (the environment wins): WEB_CONCURRENCY, METRICS_PORT, DEBUG... set
# there count here too. gunicorn has put the working directory on sys.path by now.
read_dotenv()

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "healthexport.gunicorn_worker.FreeThreadWorker"
# A 30+ MB backfill export takes seconds to store; don't kill the worker mid-transaction.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
# gunicorn 25+ opens a control socket at one fixed path per user ($HOME/.gunicorn/gunicorn.ctl):
# every instance on a machine (make run, the test servers, benches) would share it. We do not use
# gunicornc; signals and the process manager control the server.
control_socket_disable = True
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# --- Logs ------------------------------------------------------------------------------------
# One format: with DEBUG off, gunicorn's own lines (start, workers, errors) are JSON on stdout
# like the app's, by the same formatter and redaction (healthexport/settings.py LOGGING), which
# take over gunicorn's error log; Python warnings (a library's UserWarning) become py.warnings
# lines instead of raw text on stderr. DEBUG=1 keeps gunicorn's plain lines on stderr.
DEBUG = environ.FileAwareEnv().bool("DEBUG", default=False)
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
logconfig_dict = (
    {}
    if DEBUG
    else {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "healthexport.lib.logging.RedactingFilter"}},
        "formatters": {"json": {"()": "healthexport.lib.logging.JsonFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "filters": ["redact"],
                "formatter": "json",
            }
        },
        "root": {"level": LOG_LEVEL, "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"level": LOG_LEVEL, "handlers": ["stdout"], "propagate": False},
            # gunicorn logs each request at INFO: kept off, the app's healthexport.access line (which
            # carries the request id) is the access log.
            "gunicorn.access": {"level": "WARNING", "handlers": ["stdout"], "propagate": False},
        },
    }
)

# --- Prometheus with several workers ---------------------------------------------------------
# With PROMETHEUS_MULTIPROC_DIR set (scripts/run.sh, the Kubernetes Deployment), every worker
# writes its metrics to files there and /metrics sums them. The directory must be empty when
# gunicorn starts (stale files of dead workers would be counted again), and a dead worker's live
# gauges must be dropped. METRICS_PORT serves /metrics from the master on a port of its own, so
# it need not be public. These hooks read the environment directly: they run before Django.
MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if not MULTIPROC_DIR:
    # Without it each worker would answer /metrics with its own counts only. Set before any
    # worker imports prometheus_client, which picks its storage at import time.
    MULTIPROC_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="healthexport-metrics-")
METRICS_PORT = os.environ.get("METRICS_PORT", "")


def on_starting(server):
    if not DEBUG:
        logging.captureWarnings(True)  # inherited by the workers, which gunicorn forks from here
    os.makedirs(MULTIPROC_DIR, exist_ok=True)
    for name in os.listdir(MULTIPROC_DIR):
        if name.endswith(".db"):
            os.remove(os.path.join(MULTIPROC_DIR, name))


def when_ready(server):
    if not METRICS_PORT:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(int(METRICS_PORT), addr=os.environ.get("METRICS_ADDR", "0.0.0.0"), registry=registry)  # noqa: S104
    server.log.info("Serving /metrics on port %s", METRICS_PORT)


def post_worker_init(worker):
    from healthexport.lib.warm import warm_and_freeze

    warm_and_freeze()
    if METRICS_PORT:
        # No /metrics view is scraped in the workers: refresh the database gauges in a thread.
        from healthexport.lib.prometheus import start_gauge_refresh_thread

        start_gauge_refresh_thread()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, MULTIPROC_DIR)
