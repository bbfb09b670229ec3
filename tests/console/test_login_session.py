"""Who is looking: login with a demo user or a pasted token, the session cookie's attributes,
redirects without a session, an expired session, logout, CSRF, auth off (both backends)."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie

import httpx
from tests.api.helpers import INSTITUTIONS
from tests.console.conftest import ConsoleSite, csrf_of, doctor_token
from tests.serving import dev_issuer, running_server

SESSION = "yilian_console_session"


def _set_cookie(response: httpx.Response, name: str) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            jar = SimpleCookie()
            jar.load(header)
            return jar
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


def test_pages_redirect_to_login_without_a_session(console: ConsoleSite) -> None:
    with console.browser() as browser:
        response = browser.get("/console/")
        assert response.status_code == 303
        assert response.headers["location"] == "/console/login?next=%2Fconsole%2F"
        assert browser.get("/console").headers["location"] == "/console/"


def test_demo_user_login_sets_a_hardened_session_cookie(console: ConsoleSite) -> None:
    with console.browser() as browser:
        login = browser.get("/console/login")
        assert 'value="doctor@county-hospital"' in login.text and 'name="token"' in login.text
        response = browser.post(
            "/console/login",
            data={"csrf_token": csrf_of(login), "user": "doctor@county-hospital", "next": "/console/"},
        )
        assert response.status_code == 303 and response.headers["location"] == "/console/"
        cookie = _set_cookie(response, SESSION)[SESSION]
        assert cookie["httponly"] is True
        assert cookie["samesite"].lower() == "lax"
        assert cookie["path"] == "/console"
        assert not cookie["secure"]  # plain http here; https requests get Secure
        assert 0 < int(cookie["max-age"]) <= 8 * 3600  # no later than the demo token's exp
        page = browser.get("/console/")
        assert page.status_code == 200
        assert "青溪县人民医院" in page.text and "dr-1@county-hospital" in page.text


def test_a_pasted_token_logs_in_and_a_bad_one_is_refused(console: ConsoleSite) -> None:
    with console.browser() as browser:
        refused = console.login(browser, token="not.a.token")
        assert refused.status_code == 401
        assert "令牌未被接受" in refused.text
        assert SESSION not in browser.cookies
        accepted = console.login(browser, token=doctor_token("dongshan-thc"))
        assert accepted.status_code == 303
        cookie = _set_cookie(accepted, SESSION)[SESSION]
        assert int(cookie["max-age"]) <= 3600
        assert "dr-test@dongshan-thc" in browser.get("/console/").text


def test_an_expired_session_sends_the_user_back_to_login_with_a_message(store_url: str) -> None:
    with running_server(store_url, institutions=INSTITUTIONS, token_leeway_seconds=0) as base:
        site = ConsoleSite(base.removesuffix("/fhir"), base)
        now = int(time.time())
        claims = {
            "iss": dev_issuer().issuer,
            "aud": "yilian",
            "sub": "dr-brief",
            "iat": now,
            "nbf": now,
            "exp": now + 5,
            "role": "doctor",
            "institution": "county-hospital",
            "scope": "user/*.rs",
        }
        with site.browser() as browser:
            login = site.login(browser, token=dev_issuer().sign(claims))
            assert login.status_code == 303
            kept = _set_cookie(login, SESSION)[SESSION].value
            time.sleep(max(0.0, claims["exp"] + 1.5 - time.time()))  # wait out the token, no timing asserted
            # The cookie's Max-Age ended with the token; a browser whose clock is behind still
            # sends it, and the server then refuses the token itself.
            browser.cookies.set(SESSION, kept, domain="127.0.0.1", path="/console")
            back = browser.get("/console/")
            assert back.status_code == 303
            assert back.headers["location"] == "/console/login?next=%2Fconsole%2F&expired=1"
            assert "会话已结束" in browser.get(back.headers["location"]).text


def test_a_tampered_session_cookie_is_no_session(console: ConsoleSite) -> None:
    with console.browser() as browser:
        browser.cookies.set(SESSION, "tampered.value", domain="127.0.0.1", path="/console")
        assert browser.get("/console/").headers["location"].startswith("/console/login")


def test_logout_clears_the_session(console: ConsoleSite) -> None:
    with console.browser() as browser:
        console.login(browser, user="system")
        page = browser.get("/console/")
        assert page.status_code == 200
        out = browser.post("/console/logout", data={"csrf_token": csrf_of(page)})
        assert out.status_code == 303
        assert "Max-Age=0" in next(h for h in out.headers.get_list("set-cookie") if h.startswith(SESSION))
        assert browser.get("/console/").status_code == 303


def test_a_post_without_its_csrf_token_is_403_with_what_to_do(console: ConsoleSite) -> None:
    with console.browser() as browser:
        browser.get("/console/login")  # the browser has its CSRF cookie, the form lacks the field
        missing = browser.post("/console/login", data={"user": "system"})
        assert missing.status_code == 403
        assert "请返回并刷新页面" in missing.text
        wrong = browser.post("/console/login", data={"user": "system", "csrf_token": "guessed"})
        assert wrong.status_code == 403
        assert SESSION not in browser.cookies
        console.login(browser, user="system")
        assert browser.post("/console/logout", data={"csrf_token": "x"}).status_code == 403
        assert browser.get("/console/").status_code == 200  # still logged in


def test_the_language_toggle_switches_the_nav(console: ConsoleSite) -> None:
    with console.browser() as browser:
        console.login(browser, user="system")
        chinese = browser.get("/console/")
        assert '<html lang="zh-Hans">' in chinese.text and ">总览</a>" in chinese.text
        english = browser.get("/console/?lang=en")
        assert '<html lang="en">' in english.text and ">Dashboard</a>" in english.text
        assert ">Dashboard</a>" in browser.get("/console/").text  # remembered in a cookie
        assert ">总览</a>" in browser.get("/console/?lang=zh-Hans").text


def test_auth_off_shows_the_console_as_the_development_principal_with_a_banner(store_url: str) -> None:
    with (
        running_server(store_url, auth="off") as base,
        httpx.Client(base_url=base.removesuffix("/fhir")) as b,
    ):
        page = b.get("/console/")
        assert page.status_code == 200
        assert "身份认证已关闭" in page.text
        assert b.get("/console/login").headers["location"] == "/console/"
