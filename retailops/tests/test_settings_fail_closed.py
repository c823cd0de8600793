"""With DEBUG off the settings refuse the public development key and make the cookies HTTPS-only, unless
RETAILOPS_ALLOW_HTTP=1 says the deployment really is plain HTTP. Each case is a fresh process (settings are read
once, at start-up), with no variable of this test run's environment (retailops/settings_test.py sets two)."""

import json
import subprocess
import sys

import pytest
from django.conf import settings

SETUP = "import django; django.setup()"  # what every manage.py command, worker and web process does first
PROBE = (  # reads the settings only (cheaper than importing every app), and prints what is checked
    "import json; from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k, None) for k in ('DEBUG', 'SECRET_KEY', 'SESSION_COOKIE_SECURE', "
    "'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS')}))"
)
KEY = "a-real-deployment-key-" + "5" * 40


def _start(var_dir, code: str = PROBE, **env) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "retailops.settings", "RETAILOPS_VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(var_dir, **env) -> dict:
    result = _start(var_dir, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("key", [None, "dev-only-insecure-key-change-me-" + "x" * 32])
def test_debug_off_and_no_key_refuses_to_start(tmp_path, key):
    result = _start(tmp_path, SETUP, **({"DJANGO_SECRET_KEY": key} if key else {}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY is not set and DEBUG is off" in result.stderr
    assert "DJANGO_DEBUG=1" in result.stderr  # what a developer does instead


def test_debug_off_with_a_key_has_secure_cookies(tmp_path):
    found = _settings(tmp_path, DJANGO_SECRET_KEY=KEY)
    assert found["SECRET_KEY"] == KEY
    assert found["SESSION_COOKIE_SECURE"] is True
    assert found["CSRF_COOKIE_SECURE"] is True
    # HSTS and the SSL redirect stay with RETAILOPS_HTTPS / RETAILOPS_PRODUCTION, as before
    assert found["SECURE_SSL_REDIRECT"] is False
    assert found["SECURE_HSTS_SECONDS"] == 0


def test_allow_http_turns_the_secure_cookies_off(tmp_path):
    found = _settings(tmp_path, DJANGO_SECRET_KEY=KEY, RETAILOPS_ALLOW_HTTP="1")
    assert found["SESSION_COOKIE_SECURE"] is False
    assert found["CSRF_COOKIE_SECURE"] is False


def test_debug_on_runs_on_the_development_key(tmp_path):
    found = _settings(tmp_path, DJANGO_DEBUG="1")
    assert found["DEBUG"] is True
    assert found["SECRET_KEY"].startswith("dev-only")
    assert found["SESSION_COOKIE_SECURE"] is False


def test_a_checkouts_own_key_from_make_install_is_used(tmp_path):
    (tmp_path / "secret_key").write_text("this-checkout-" + "7" * 50 + "\n")
    found = _settings(tmp_path)
    assert found["SECRET_KEY"] == "this-checkout-" + "7" * 50
    assert found["DEBUG"] is False
    # the environment's key wins over the file
    assert _settings(tmp_path, DJANGO_SECRET_KEY=KEY)["SECRET_KEY"] == KEY


def test_production_never_falls_back_to_a_checkouts_key_file(tmp_path):
    # Every machine of a deployment must share one key: a per-checkout file would sign sessions differently.
    (tmp_path / "secret_key").write_text("this-checkout-" + "7" * 50 + "\n")
    result = _start(tmp_path, SETUP, RETAILOPS_PRODUCTION="1")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set and DEBUG is off" in result.stderr


def test_the_test_run_has_a_throwaway_key_and_plain_http_cookies():
    assert settings.SECRET_KEY.startswith("test-run-")
    assert settings.SESSION_COOKIE_SECURE is False  # RETAILOPS_ALLOW_HTTP=1 from retailops/settings_test.py


def test_an_https_deployment_keeps_secure_cookies_even_with_allow_http(tmp_path):
    found = _settings(tmp_path, DJANGO_SECRET_KEY=KEY, RETAILOPS_HTTPS="1", RETAILOPS_ALLOW_HTTP="1")
    assert found["SESSION_COOKIE_SECURE"] is True
    assert found["CSRF_COOKIE_SECURE"] is True
    assert found["SECURE_SSL_REDIRECT"] is True
