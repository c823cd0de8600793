"""Both login forms lock a username + client address out after too many failures (django-axes, database handler).

/accounts/login/ and /admin/login/ count the same failures; another address still gets in with the right password;
X-Forwarded-For is read only behind a configured number of trusted proxies (RETAILOPS_TRUSTED_PROXY_COUNT).
"""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from inventory.tests.factories import PASSWORD
from retailops.logins import client_ip

FORMS = ["login", "admin:login"]
LOCKED = "Too many failed sign-ins for this user from your address; try again in 15 minutes"
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


def _sign_in(url: str, username: str, password: str, **extra):
    """A new browser (no session) posting the form from the address in extra (REMOTE_ADDR, HTTP_X_FORWARDED_FOR)."""
    client = Client()
    response = client.post(url, {"username": username, "password": password, "next": "/"}, **extra)
    return client, response


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _fail(url: str, username: str, times: int, **extra) -> list[int]:
    return [_sign_in(url, username, "wrong-password", **extra)[1].status_code for _ in range(times)]


@pytest.mark.parametrize("form", FORMS)
def test_after_the_limit_even_the_right_password_is_refused_with_the_locked_page(db, world, settings, form):
    url, owner = reverse(form), world.owner.username
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 10  # RETAILOPS_LOGIN_ATTEMPTS' default

    statuses = _fail(url, owner, limit - 1, REMOTE_ADDR=ATTACKER)
    assert statuses == [200] * (limit - 1)  # the form again, with its error
    last = _sign_in(url, owner, "wrong-password", REMOTE_ADDR=ATTACKER)[1]
    assert last.status_code == 429  # the limit-th failure locks

    client, response = _sign_in(url, owner, PASSWORD, REMOTE_ADDR=ATTACKER)
    assert response.status_code == 429
    assert not _signed_in(client)
    page = response.content.decode()
    assert LOCKED in page
    assert "ask an owner to unlock you" in page
    assert "<title>Sign-in locked · RetailOps</title>" in page  # the project's layout, on the admin form too
    # one lock, on this username at this address (an attempt while locked counts too and restarts the cool-off)
    assert AccessAttempt.objects.get(username=owner, ip_address=ATTACKER).failures_since_start == limit + 1


@pytest.mark.parametrize("form", FORMS)
def test_the_same_user_from_another_address_still_signs_in(db, world, settings, form):
    url, owner = reverse(form), world.owner.username
    _fail(url, owner, settings.AXES_FAILURE_LIMIT, REMOTE_ADDR=ATTACKER)
    assert _sign_in(url, owner, PASSWORD, REMOTE_ADDR=ATTACKER)[1].status_code == 429

    client, response = _sign_in(url, owner, PASSWORD, REMOTE_ADDR=ELSEWHERE)
    assert response.status_code == 302
    assert _signed_in(client)


def test_the_two_forms_count_the_same_failures(db, world, settings):
    owner = world.owner.username
    half = settings.AXES_FAILURE_LIMIT // 2
    _fail(reverse("login"), owner, half, REMOTE_ADDR=ATTACKER)
    _fail(reverse("admin:login"), owner, settings.AXES_FAILURE_LIMIT - half, REMOTE_ADDR=ATTACKER)
    assert _sign_in(reverse("login"), owner, PASSWORD, REMOTE_ADDR=ATTACKER)[1].status_code == 429


@pytest.mark.parametrize("form", FORMS)
def test_a_forged_x_forwarded_for_does_not_dodge_the_lock_without_a_trusted_proxy(db, world, settings, form):
    assert settings.RETAILOPS_TRUSTED_PROXY_COUNT == 0  # the default
    url, owner = reverse(form), world.owner.username
    for n in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(url, owner, "wrong-password", REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"10.9.8.{n}")

    client, response = _sign_in(url, owner, PASSWORD, REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="10.9.8.250")
    assert response.status_code == 429
    assert not _signed_in(client)
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [ATTACKER]


@pytest.mark.parametrize("form", FORMS)
def test_behind_one_trusted_proxy_two_clients_are_counted_apart(db, world, settings, form):
    settings.RETAILOPS_TRUSTED_PROXY_COUNT = 1
    url, owner, proxy = reverse(form), world.owner.username, "10.0.0.2"
    # the attacker's own X-Forwarded-For is kept on the left; the proxy appends the address it saw
    for n in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(url, owner, "wrong-password", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"10.9.8.{n}, {ATTACKER}")

    locked_client, locked = _sign_in(url, owner, PASSWORD, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    assert locked.status_code == 429
    assert not _signed_in(locked_client)

    colleague, response = _sign_in(url, owner, PASSWORD, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=ELSEWHERE)
    assert response.status_code == 302
    assert _signed_in(colleague)


def test_a_success_resets_the_count(db, world, settings):
    url, owner = reverse("login"), world.owner.username
    for _ in range(2):
        _fail(url, owner, settings.AXES_FAILURE_LIMIT - 1, REMOTE_ADDR=ATTACKER)
        client, response = _sign_in(url, owner, PASSWORD, REMOTE_ADDR=ATTACKER)
        assert response.status_code == 302
        assert _signed_in(client)


def test_the_lock_ends_after_the_cool_off(db, world, settings):
    url, owner = reverse("login"), world.owner.username
    _fail(url, owner, settings.AXES_FAILURE_LIMIT, REMOTE_ADDR=ATTACKER)
    assert _sign_in(url, owner, PASSWORD, REMOTE_ADDR=ATTACKER)[1].status_code == 429
    # 15 minutes and a second later
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    client, response = _sign_in(url, owner, PASSWORD, REMOTE_ADDR=ATTACKER)
    assert response.status_code == 302
    assert _signed_in(client)


def test_an_owner_unlocks_a_user_in_the_admin(db, world, settings):
    url, staff = reverse("login"), world.staff.username
    _fail(url, staff, settings.AXES_FAILURE_LIMIT, REMOTE_ADDR=ATTACKER)
    attempt = AccessAttempt.objects.get(username=staff)

    owner = Client()
    owner.force_login(world.owner)
    changelist = owner.get(reverse("admin:axes_accessattempt_changelist"))
    assert changelist.status_code == 200
    assert staff in changelist.content.decode()
    delete = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    assert owner.post(delete, {"post": "yes"}).status_code == 302

    client, response = _sign_in(url, staff, PASSWORD, REMOTE_ADDR=ATTACKER)
    assert response.status_code == 302
    assert _signed_in(client)


def test_the_test_clients_login_still_works(db, world):
    # Client.login() calls authenticate() without a request: no address to count, so axes lets it through.
    client = Client()
    assert client.login(username=world.staff.username, password=PASSWORD)
    assert not client.login(username=world.staff.username, password="wrong-password")


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "192.0.2.1", "", "192.0.2.1"),
        (0, "192.0.2.1", "203.0.113.9", "192.0.2.1"),  # no trusted proxy: the header is anyone's to write
        (1, "10.0.0.2", "203.0.113.9", "203.0.113.9"),
        (1, "10.0.0.2", "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client's own entry is left of the proxy's
        (2, "10.0.0.3", "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (1, "10.0.0.2", "", "10.0.0.2"),  # not through the proxy: its own address (stricter)
        (2, "10.0.0.3", "203.0.113.9", "10.0.0.3"),
        (1, "10.0.0.2", "not-an-address", "10.0.0.2"),
        (1, "10.0.0.2", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_client_ip(settings, proxies, remote, forwarded, expected):
    settings.RETAILOPS_TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def _http_sign_in(base: str, path: str, username: str, password: str) -> tuple[int, str]:
    """A browser's sign-in over real HTTP: GET the form (CSRF cookie and token), then POST it."""
    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    form = opener.open(base + path, timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/"}
    ).encode()
    request = urllib.request.Request(base + path, data=body, headers={"Referer": base + path})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:  # 302 (not followed) and 429 arrive here
        return error.code, error.read().decode()


@pytest.mark.scorecard("admin and user login lockout")
def test_lockout_end_to_end_over_http_on_both_forms(live_server, world_tx, settings, scorecard):
    """Through a real server: each form locks its user after the limit; the right password then gets the 429 page."""
    limit = settings.AXES_FAILURE_LIMIT
    for path, user in (("/accounts/login/", world_tx.staff), ("/admin/login/", world_tx.owner)):
        failures = [_http_sign_in(live_server.url, path, user.username, "wrong-password")[0] for _ in range(limit)]
        assert failures == [200] * (limit - 1) + [429], path
        status, page = _http_sign_in(live_server.url, path, user.username, PASSWORD)
        assert status == 429, path
        assert LOCKED in page
        scorecard.record(f"{path.split('/')[1]}_failures_to_lock", failures.index(429) + 1)
    # a user nobody attacked signs in from the same address
    assert _http_sign_in(live_server.url, "/accounts/login/", world_tx.accountant.username, PASSWORD)[0] == 302
