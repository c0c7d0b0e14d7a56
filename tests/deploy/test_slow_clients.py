"""nginx, from its Debian package, in front of gunicorn, against clients that send slowly, and
clients that send what is not HTTP either server reads (answered in our error shape, never 5xx).

gunicorn (gthread) hands a connection to one of its WEB_CONCURRENCY x GUNICORN_THREADS threads as
soon as its first bytes arrive, and the thread waits for the rest of the request: a dozen clients
trickling a header or a body hold every thread, and /health stops answering. The proxy reads
whole requests first. Both servers run here as `make run` and deploy/compose.yaml run them:
gunicorn with deploy/gunicorn.conf.py, nginx through deploy/nginx/start.sh with the shipped site
file (TLS with the certificate start.sh makes), on free ports of 127.0.0.1. Only the main nginx
configuration, which says where the pid and temporary files go, is the test's own.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from accounts.services import api_key_create
from ingest.models import Ingestion
from tests.deploy.conftest import DEPLOY
from tests.ingest.helpers import fixture_bytes

ROOT = DEPLOY.parent
NGINX = "/usr/sbin/nginx"  # scripts/setup-system.sh test installs Debian's nginx
START = DEPLOY / "nginx" / "start.sh"
SLOW_CLIENTS = 12  # of each kind; gunicorn has 2 workers x 4 threads (1 x 4 for the contrast)
ANSWER_TIMEOUT = 5.0  # seconds: not a measurement, the point where "no answer" is a failure
TRICKLE_INTERVAL = 1.0
MAX_TRICKLES = 40  # a slow client stops by itself after this many bytes
STARTUP_TIMEOUT = 30.0
UNLIMITED = str(10**12)
# What a copy of the repository for `make run` leaves out (.venv is linked instead).
NOT_COPIED = (".git", ".venv", "var", "test-artifacts", "staticfiles", "__pycache__", ".*_cache", ".hypothesis")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group (gunicorn's or nginx's workers too), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def wait_until(ready: Callable[[], bool], process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()}")
        if ready():
            return
        time.sleep(0.2)
    pytest.fail(f"{process.args[0]} did not start in {timeout:.0f} s:\n{log.read_text()}")


@contextlib.contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path, ready: Callable[[], bool], timeout: float = STARTUP_TIMEOUT
) -> Iterator[None]:
    """The command in a process group of its own, stopped (workers too) whatever happens."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until(ready, process, log, timeout)
        yield
    finally:
        stop_process_group(process)


def plain(port: int, timeout: float = ANSWER_TIMEOUT) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def plain_socket(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT)


@dataclass
class Proxy:
    port: int
    ca_file: Path

    def tls_context(self) -> ssl.SSLContext:
        # Verified against the local CA start.sh made: the certificate names the address.
        return ssl.create_default_context(cafile=str(self.ca_file))

    def socket(self) -> socket.socket:
        return self.tls_context().wrap_socket(plain_socket(self.port), server_hostname="127.0.0.1")

    def connection(self, timeout: float = ANSWER_TIMEOUT) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.tls_context())


def get_health(connection: http.client.HTTPConnection) -> tuple[int, dict]:
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def database_url() -> str:
    """The test database (pytest-django's), so that gunicorn sees what a transactional test commits."""
    db = connection.settings_dict
    credentials = f"{quote(db['USER'], safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
    return f"postgis://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def gunicorn(tmp: Path, *, workers: int, threads: int = 4) -> Iterator[int]:
    """scripts/run.sh's gunicorn, from the virtualenv running the tests, on the test database."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "METRICS_PORT", "SECRET_KEY_FILE"}},
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "test-only-secret",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / f"prometheus-{port}"),
        "TRUSTED_PROXIES": "127.0.0.1",
        "RATELIMIT_REQUESTS_PER_HOUR": UNLIMITED,
        "RATELIMIT_BYTES_PER_HOUR": UNLIMITED,
    }
    command = [str(Path(sys.executable).parent / "gunicorn"), "healthexport.wsgi"]
    command += ["--config", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    with running(command, env, tmp / f"gunicorn-{port}.log", lambda: _answers(lambda: plain(port))):
        yield port


def write_nginx_main_conf(tmp: Path) -> Path:
    """Only where nginx keeps its pid and temporary files; the site is the shipped template."""
    # As root nginx would run its workers as "nobody", who cannot enter pytest's temporary directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp_paths = "".join(f"    {kind}_temp_path {tmp}/{kind};\n" for kind in kinds)
    path = tmp / "nginx.conf"
    path.write_text(
        f"{user}worker_processes 1;\npid {tmp}/nginx.pid;\n"
        "events {\n    worker_connections 512;\n}\n"
        f"http {{\n    access_log off;\n{temp_paths}    include {tmp}/healthexport.conf;\n}}\n"
    )
    return path


@pytest.fixture(scope="module")
def proxy(django_db_setup, tmp_path_factory) -> Iterator[Proxy]:
    """nginx through deploy/nginx/start.sh, in front of a gunicorn of two workers."""
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn shares the test database, which must be a server database")
    tmp = tmp_path_factory.mktemp("proxy")
    proxy = Proxy(port=free_port(), ca_file=tmp / "certs" / "local-ca.crt")
    with gunicorn(tmp, workers=2) as gunicorn_port:
        env = {
            "PATH": f"{Path(NGINX).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "SERVER_NAME": "127.0.0.1",
            "UPSTREAM": f"127.0.0.1:{gunicorn_port}",
            "HTTPS_LISTEN": f"127.0.0.1:{proxy.port}",
            "HTTP_LISTEN": f"127.0.0.1:{free_port()}",
            "CERT_DIR": str(tmp / "certs"),
            "SITE_CONF": str(tmp / "healthexport.conf"),
        }
        command = [str(START), "-c", str(write_nginx_main_conf(tmp)), "-p", f"{tmp}/", "-e", f"{tmp}/nginx-error.log"]
        with running(command, env, tmp / "nginx.log", lambda: _answers(proxy.connection)):
            yield proxy


def _answers(connect: Callable[[], http.client.HTTPConnection]) -> bool:
    try:
        return get_health(connect())[0] == 200
    except (OSError, ValueError):
        return False


class SlowClient(threading.Thread):
    """Sends ``head`` and then one byte a second, never finishing its request, until stopped,
    cut off by the server, or MAX_TRICKLES bytes later."""

    def __init__(self, connect: Callable[[], socket.socket], head: bytes) -> None:
        super().__init__(daemon=True)
        self.connect, self.head = connect, head
        self.stopping = threading.Event()
        self.trickling = threading.Event()  # set once a byte went after the head
        self.cut_off = False  # the server closed the connection (or answered it) first

    def run(self) -> None:
        try:
            with self.connect() as sock:
                sock.sendall(self.head)
                for _ in range(MAX_TRICKLES):
                    if self.stopping.wait(TRICKLE_INTERVAL):
                        return
                    if server_gave_up(sock):
                        self.cut_off = True
                        return
                    sock.sendall(b"x")
                    self.trickling.set()
        except OSError:  # reset, broken pipe, or a TLS close
            self.cut_off = True

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=TRICKLE_INTERVAL + ANSWER_TIMEOUT)


def server_gave_up(sock: socket.socket) -> bool:
    """An answer or an end of stream is waiting (TLS records without data, like tickets, are not)."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    sock.settimeout(0)
    try:
        sock.recv(4096)
        return True
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    finally:
        sock.settimeout(ANSWER_TIMEOUT)


HALF_A_HEADER = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
HALF_A_BODY = (
    b"POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"
)


@pytest.fixture
def slow_clients() -> Iterator[Callable[[Callable[[], socket.socket], bytes], list[SlowClient]]]:
    crowd: list[SlowClient] = []

    def start(connect: Callable[[], socket.socket], head: bytes) -> list[SlowClient]:
        clients = [SlowClient(connect, head) for _ in range(SLOW_CLIENTS)]
        for client in clients:
            client.start()
        crowd.extend(clients)
        return clients

    yield start
    for client in crowd:
        client.stop()


def wait_for_trickles(clients: list[SlowClient]) -> None:
    for client in clients:
        assert client.trickling.wait(timeout=ANSWER_TIMEOUT), "answered or cut off too early"


def test_health_answers_through_the_proxy_while_slow_clients_hold_connections(proxy, slow_clients):
    headers = slow_clients(proxy.socket, HALF_A_HEADER)
    bodies = slow_clients(proxy.socket, HALF_A_BODY)
    wait_for_trickles(headers + bodies)

    status, answer = get_health(proxy.connection())

    assert (status, answer) == (200, {"status": "ok"})
    assert not any(client.cut_off for client in headers + bodies)  # they were all still there
    # client_header_timeout (10 s): a header still unfinished is dropped. A body that keeps coming,
    # however slowly, is not (client_body_timeout is between two reads), and it costs a thread
    # nothing meanwhile.
    for client in headers:
        client.join(timeout=MAX_TRICKLES * TRICKLE_INTERVAL)
    assert all(client.cut_off for client in headers)
    assert not any(client.cut_off for client in bodies)
    assert get_health(proxy.connection())[0] == 200


def test_without_the_proxy_slow_headers_starve_gunicorn(django_db_setup, slow_clients, tmp_path):
    # One worker: with two, the kernel picks the worker that accepts each connection, so whether
    # one is left with a free thread for /health would be chance. Here it is certain.
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn shares the test database, which must be a server database")
    with gunicorn(tmp_path, workers=1) as port:
        clients = slow_clients(lambda: plain_socket(port), HALF_A_HEADER)
        wait_for_trickles(clients)

        with pytest.raises(TimeoutError):
            get_health(plain(port))

        for client in clients:
            client.stop()
        # Their threads come back once they hang up.
        assert get_health(plain(port))[0] == 200


def test_a_worker_with_no_free_thread_leaves_new_connections_to_another(django_db_setup, tmp_path):
    # Two workers of one thread: a slow client holds the thread of whichever worker accepted it.
    # gunicorn's own gthread worker would still accept about half of the new connections and
    # queue them behind it (1 in 1024 that all ten went elsewhere); ours stops listening.
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn shares the test database, which must be a server database")
    with gunicorn(tmp_path, workers=2, threads=1) as port:
        slow = SlowClient(lambda: plain_socket(port), HALF_A_HEADER)
        slow.start()
        try:
            wait_for_trickles([slow])
            answers = [get_health(plain(port))[0] for _ in range(10)]
        finally:
            slow.stop()

    assert answers == [200] * 10


@pytest.mark.django_db(transaction=True)
def test_a_body_answered_before_it_was_read_leaves_the_connection_usable(tmp_path):
    # gunicorn itself discards at most 64 KiB of a body left unread and then drops the connection
    # when the next request comes: behind a proxy that keeps its connections open, that request
    # is another client's, and it failed with 502.
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn shares the test database, which must be a server database")
    with gunicorn(tmp_path, workers=1) as port:
        kept_alive = plain(port)
        try:
            statuses = []
            # 300 KB: refused for its key, or its method; 3 MB: for its key, or its size.
            for body in (b"[" + b" " * 300_000 + b"]", b"x" * 3_000_000):
                for method, path in (("POST", "/v1/ingest"), ("POST", "/health"), ("GET", "/health")):
                    headers = {"Authorization": "Bearer not-a-key", "Content-Type": "application/json"}
                    kept_alive.request(method, path, body=body if method == "POST" else None, headers=headers)
                    answer = kept_alive.getresponse()
                    answer.read()
                    statuses.append(answer.status)
        finally:
            kept_alive.close()

    assert statuses == [401, 405, 200, 401, 413, 200]


# Requests neither server reads, and what each answers: status and code.
NOT_HTTP = [
    (b"GET /v1/metrics/" + b"x" * 5000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, "uri_too_long"),
    (b"GET /v1/metrics HTTP/1.1\r\nHost: a\r\nAccept: \x01\r\n\r\n", 400, "invalid_request"),
    (
        b"GET /health HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
        431,
        "headers_too_large",
    ),
    (b"GET /health HTTP/9.9\r\nHost: a\r\n\r\n", 400, "invalid_request"),
    (b"BLAH\r\n\r\n", 400, "invalid_request"),
    (b"GET /health HTTP/1.1\r\n Host: a\r\n\r\n", 400, "invalid_request"),
]
# What only nginx refuses: gunicorn reads the request line and headers to limits of its own.
NOT_HTTP_FOR_THE_PROXY = [
    (b"GET /v1/metrics/" + b"x" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, "uri_too_long"),
    (b"GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + b"y" * 20000 + b"\r\n\r\n", 431, "headers_too_large"),
    (b"\xff\xfe\x00\x01\r\n\r\n", 400, "invalid_request"),
    # A chunk nginx cannot read; gunicorn leaves the chunks to the app (the next test).
    (b"POST /v1/ingest HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "invalid_request"),
    # A transfer coding nginx does not speak (its 501); gunicorn would wait for the chunks.
    (b"POST /v1/ingest HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400, "invalid_request"),
]


def raw_answer(sock: socket.socket, request: bytes) -> tuple[int, dict]:
    """The status and JSON body of the answer to bytes sent as they are."""
    sock.sendall(request)
    return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int, dict]:
    """The status and JSON body of an answer, read to its length (nginx may keep the connection open)."""
    with sock:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"no answer, only {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:])}
        assert headers.get("content-type") == "application/json", head
        if headers.get("transfer-encoding") == "chunked":  # an answer of the app, sent as it is made
            while not body.endswith(b"0\r\n\r\n"):
                body += sock.recv(65536)
            body = b"".join(body.split(b"\r\n")[1::2])
        else:
            while len(body) < int(headers["content-length"]):
                body += sock.recv(65536)
        return int(lines[0].split()[1]), json.loads(body)


def test_gunicorn_answers_what_is_not_http_in_the_error_shape(django_db_setup, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn shares the test database, which must be a server database")
    with gunicorn(tmp_path, workers=1) as port:
        answers = [raw_answer(plain_socket(port), request) for request, _, _ in NOT_HTTP]
        assert get_health(plain(port))[0] == 200

    assert [(status, body["error"]["code"]) for status, body in answers] == [
        (status, code) for _, status, code in NOT_HTTP
    ]
    assert all(body["error"]["message"] and body["error"]["details"] == [] for _, body in answers)


def test_the_proxy_answers_what_is_not_http_in_the_error_shape(proxy):
    cases = NOT_HTTP + NOT_HTTP_FOR_THE_PROXY
    answers = [raw_answer(proxy.socket(), request) for request, _, _ in cases]

    assert [(status, body["error"]["code"]) for status, body in answers] == [
        (status, code) for _, status, code in cases
    ]


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_gunicorn_cannot_decode_is_a_400_and_stores_nothing(tmp_path):
    # gunicorn decodes the chunks as the app reads the body, and raised its own errors in the
    # middle of the view: 500. Each case on /v1/ingest and on /v1/imports; the last hangs up.
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn shares the test database, which must be a server database")
    owner = get_user_model().objects.create_user(username="chunked", password="chunked-password-1")
    _, key = api_key_create(owner=owner, name="phone", scopes=["ingest"], created_by=None)
    bodies = (b"zz\r\n", b"3;ext=\x01\r\n[1]\r\n0\r\n\r\n", b"3\r\n[1]XX0\r\n\r\n", b"40\r\n[1]")
    answers = []
    with gunicorn(tmp_path, workers=1) as port:
        for path, media_type in (("/v1/ingest", "application/json"), ("/v1/imports", "application/zip")):
            for body in bodies:
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                    f"Content-Type: {media_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                sock = plain_socket(port)
                if body.endswith(b"[1]"):  # a client that stops sending mid-chunk
                    sock.sendall(head.encode() + body)
                    sock.shutdown(socket.SHUT_WR)
                    answers.append(read_answer(sock))
                else:
                    answers.append(raw_answer(sock, head.encode() + body))
        assert get_health(plain(port))[0] == 200

    assert [(status, body["error"]["code"]) for status, body in answers] == [(400, "invalid_request")] * 8
    assert not Ingestion.objects.filter(user=owner).exists()


@pytest.mark.django_db(transaction=True)
def test_a_large_export_and_a_gzip_one_pass_the_proxy_unchanged(proxy):
    owner = get_user_model().objects.create_user(username="proxied", password="proxied-password-1")
    _, key = api_key_create(owner=owner, name="phone behind the proxy", scopes=["ingest"], created_by=None)
    # 30 MB on the wire, more than nginx keeps in memory: it goes through a temporary file.
    large = fixture_bytes("small.json") + b" " * (30 * 1024 * 1024)
    day = fixture_bytes("full_day.json")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    for body, extra in ((large, {}), (gzip.compress(day), {"Content-Encoding": "gzip"})):
        https = proxy.connection(timeout=120)
        try:
            https.request("POST", "/v1/ingest", body=body, headers={**headers, **extra})
            response = https.getresponse()
            assert (response.status, json.loads(response.read())["status"]) == (200, "processed")
        finally:
            https.close()

    stored = Ingestion.objects.filter(user=owner).order_by("received_at")
    assert [(i.body_size, i.body_sha256, i.content_encoding) for i in stored] == [
        (len(large), hashlib.sha256(large).hexdigest(), ""),
        (len(day), hashlib.sha256(day).hexdigest(), "gzip"),
    ]


def test_make_run_serves_through_nginx_and_answers_while_slow_clients_wait(slow_clients, tmp_path):
    """scripts/run.sh itself, on the embedded default, in a copy of the repository (its var/ is the copy's)."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(*NOT_COPIED))
    (tree / ".venv").symlink_to(ROOT / ".venv")
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HOST="127.0.0.1", PORT=str(port), SECRET_KEY="make-run-test", DOTENV_PATH="")

    with running(
        [str(tree / "scripts" / "run.sh")], env, tmp_path / "run.log", lambda: _answers(lambda: plain(port)), 180
    ):
        headers = slow_clients(lambda: plain_socket(port), HALF_A_HEADER)
        bodies = slow_clients(lambda: plain_socket(port), HALF_A_BODY)
        wait_for_trickles(headers + bodies)

        assert get_health(plain(port)) == (200, {"status": "ok"})
        connection = plain(port)
        connection.request("GET", "/health")
        assert connection.getresponse().getheader("Server") == "nginx"  # not gunicorn itself
        connection.close()
