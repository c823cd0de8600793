"""The OpenAPI schema describes every endpoint without errors or warnings."""

import pytest
from django.core.management import call_command

from inventory.tests.factories import PASSWORD


@pytest.mark.django_db
def test_openapi_schema_is_valid_and_warning_free(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert text.startswith("openapi: 3")
    assert "/api/v1/" in text


@pytest.mark.django_db
def test_schema_and_docs_pages_need_a_login(client, world):
    assert client.get("/api/schema/").status_code == 401
    client.login(username=world.owner.username, password=PASSWORD)
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"unpkg" not in docs.content and b"jsdelivr" not in docs.content
