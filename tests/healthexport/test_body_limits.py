"""Bodies outside the ingest endpoint are capped at Django's 2.5 MB, refused from Content-Length alone."""

from __future__ import annotations

import io

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]
FIVE_MB = 5 * 1024 * 1024


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it the server read."""

    def __init__(self, size: int):
        super().__init__(b"x" * size)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=b"])
def test_a_5_mb_post_to_the_admin_login_is_refused_unread(client, content_type):
    body = CountingStream(FIVE_MB)
    response = client.generic(
        "POST", "/admin/login/", content_type=content_type, **{"wsgi.input": body, "CONTENT_LENGTH": str(FIVE_MB)}
    )

    assert response.status_code == 413
    assert "text/plain" in response["Content-Type"]
    assert body.bytes_read == 0


def test_an_api_path_refuses_a_large_body_in_the_error_shape(api_client):
    body = CountingStream(FIVE_MB)
    response = api_client.generic(
        "DELETE", "/v1/data", content_type="application/json", **{"wsgi.input": body, "CONTENT_LENGTH": str(FIVE_MB)}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert body.bytes_read == 0


def test_a_small_admin_login_post_is_still_served(client, staff):
    response = client.post("/admin/login/", {"username": "staff", "password": "staff-password-1"})

    assert response.status_code == 302
