"""JSON log lines: request context, one access line per request, and redaction of secrets."""

from __future__ import annotations

import logging

import pytest

from healthexport.lib.logging import bind_log_context, is_sensitive_name, log_context, redact_text

# A real-looking key: hx_ + 8 lowercase alphanumerics + _ + 43 url-safe characters.
KEY = "hx_abcd1234_" + "S3cr3t-_Value0123456789abcdefghijklmnopqrst"
SECRET_PART = KEY.split("_", 2)[2]
assert len(SECRET_PART) == 43


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "healthexport.access"]


@pytest.mark.embedded
@pytest.mark.django_db
def test_a_request_logs_one_access_line_with_its_request_id_and_never_the_key(api_client, log_lines):
    response = api_client.get(
        f"/v1/nothing-here?api_key={KEY}&page=2",
        HTTP_AUTHORIZATION=f"Bearer {KEY}",
        HTTP_X_API_KEY=KEY,
        HTTP_X_REQUEST_ID="complaint-trace-0001",
    )

    assert response.status_code == 404
    [line] = access_lines(log_lines())
    assert line["request_id"] == "complaint-trace-0001"
    assert line["method"] == "GET"
    assert line["path"] == "/v1/nothing-here"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    assert line["user_id"] == "-" and line["key_prefix"] == "-"
    assert set(line) >= {"time", "level", "logger", "message"}
    assert SECRET_PART not in log_lines.text()
    assert "page=2" not in log_lines.text()


@pytest.mark.django_db
def test_a_logged_message_never_shows_a_key_but_keeps_its_prefix(log_lines):
    logger = logging.getLogger("tests.logging")
    with log_context("req-with-a-key-1"):
        logger.warning("client sent %s in the body", KEY)
        logger.warning("headers: {'Authorization': 'Bearer %s', 'X-API-Key': '%s'}", KEY[:20], "plain-secret")

    first, second = log_lines()
    assert first["message"] == "client sent hx_abcd1234_[REDACTED] in the body"
    assert first["request_id"] == "req-with-a-key-1"
    assert "plain-secret" not in second["message"]
    assert KEY[12:20] not in second["message"]
    assert SECRET_PART not in log_lines.text()


@pytest.mark.django_db
def test_extra_fields_named_like_secrets_are_redacted_and_measures_kept(log_lines):
    logging.getLogger("tests.logging").info(
        "ingest refused",
        extra={
            "body": '{"data": {"metrics": []}}',
            "raw_password": "hunter2",
            "client_secret": "s3",
            "api_token": "t0k",
            "body_bytes": 1234,
            "key_prefix_seen": "abcd1234",
            "headers": {"Authorization": f"Bearer {KEY}", "X-API-Key": KEY, "Accept": "application/json"},
            "note": f"retrying with {KEY}",
            "items": [KEY, 3],
        },
    )

    [line] = log_lines()
    assert line["body"] == line["raw_password"] == line["client_secret"] == line["api_token"] == "[REDACTED]"
    assert line["body_bytes"] == 1234
    assert line["key_prefix_seen"] == "abcd1234"
    assert line["headers"] == {"Authorization": "[REDACTED]", "X-API-Key": "[REDACTED]", "Accept": "application/json"}
    assert line["note"] == "retrying with hx_abcd1234_[REDACTED]"
    assert line["items"] == ["hx_abcd1234_[REDACTED]", 3]


@pytest.mark.django_db
def test_exception_text_is_redacted(log_lines):
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        logging.getLogger("tests.logging").exception("verification failed")

    [line] = log_lines()
    assert "ValueError: bad key hx_abcd1234_[REDACTED]" in line["exception"]
    assert SECRET_PART not in log_lines.text()


@pytest.mark.django_db
def test_an_authenticated_request_logs_its_user(client, staff, log_lines):
    client.force_login(staff)
    response = client.get("/admin/")

    assert response.status_code == 200
    [line] = access_lines(log_lines())
    assert line["user_id"] == str(staff.public_id)
    assert line["key_prefix"] == "-"


@pytest.mark.django_db
def test_bound_user_and_key_appear_on_every_later_line_of_the_request_only(log_lines):
    logger = logging.getLogger("tests.logging")
    with log_context("req-bound-0001"):
        bind_log_context(user_id="u-1", key_prefix="abcd1234")
        logger.info("inside")
    logger.info("after")

    inside, after = log_lines()
    assert (inside["request_id"], inside["user_id"], inside["key_prefix"]) == ("req-bound-0001", "u-1", "abcd1234")
    assert (after["request_id"], after["user_id"], after["key_prefix"]) == ("-", "-", "-")


@pytest.mark.django_db
def test_probe_answers_are_logged_at_debug_only(api_client, log_lines):
    assert api_client.get("/health").status_code == 200
    assert access_lines(log_lines()) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {KEY}", "Authorization: Bearer hx_abcd1234_[REDACTED]"),
        ("Authorization: Bearer not-a-hx-key", "Authorization: [REDACTED]"),
        ("x-api-key=whatever&x=1", "x-api-key=[REDACTED]&x=1"),
        ('{"api_key": "abc"}', '{"api_key": "[REDACTED]"}'),
        ("token is bearer abc.def", "token is bearer [REDACTED]"),
        ("hx_short_prefix stays", "hx_short_prefix stays"),
    ],
)
def test_redact_text(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("body", True),
        ("raw_body", True),
        ("X-API-Key", True),
        ("api_key", True),
        ("Authorization", True),
        ("password", True),
        ("refresh_token", True),
        ("body_bytes", False),
        ("key_prefix", False),
        ("metric", False),
    ],
)
def test_is_sensitive_name(name, sensitive):
    assert is_sensitive_name(name) is sensitive
