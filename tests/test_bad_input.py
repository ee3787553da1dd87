"""Bad input is a clear 4xx page in the reader's language, never a 500 (issue 12 point 6).

Each case is one the fuzz of the review found; on PostgreSQL and on SQLite they failed
differently (NUL: PostgreSQL text cannot hold it; ids: int4 on PostgreSQL, int64 on SQLite).
tests/test_fuzz_routes.py drives every route with generated input.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from newsletter import feeds
from newsletter.extensions import db
from newsletter.models import Article
from tests.support.admin import csrf_token, post
from tests.support.factories import add_article

BEYOND_INT4 = 2**31
BEYOND_INT64 = 2**63
HUGE = 10**20

ENGLISH = {"Accept-Language": "en"}

ID_ROUTES = [
    "/admin/subscribers/{}",
    "/admin/subscribers/{}/evidence",
    "/admin/subscribers/{}/evidence.json",
    "/admin/subscribers/{}/withdraw",
    "/admin/articles/{}/edit",
    "/admin/digests/{}",
    "/admin/digests/{}/progress.json",
]


def _assert_page(response, status: int, title: str) -> None:
    where = f"{response.request.method} {response.request.full_path}"
    assert response.status_code == status, (where, response.get_data(as_text=True)[:2000])
    html = response.get_data(as_text=True)
    assert f"<h1>{title}</h1>" in html, (where, html[:2000])
    assert "Traceback" not in html


@pytest.mark.parametrize(
    "extra",
    [{"consent_version": "\x00"}, {"email": "a\x00b@example.org"}, {"website": "\x00"}, {"\x00": "x"}],
    ids=["consent_version", "email", "honeypot", "field-name"],
)
def test_nul_in_a_public_form_is_a_400(visitor, extra):
    extra = dict(extra)
    _assert_page(visitor.sign_up(extra.pop("email", "ann@example.org"), **extra), 400, "Ungültige Anfrage")


def test_nul_in_the_preferences_link_form_is_a_400_in_german_by_default(client):
    data = {"csrf_token": csrf_token(client, "/preferences"), "email": "a\x00b@example.org", "website": ""}
    _assert_page(client.post("/preferences", data=data), 400, "Ungültige Anfrage")


def test_nul_in_a_header_is_a_400(visitor):
    visitor.headers["User-Agent"] = "evil\x00agent"
    _assert_page(visitor.sign_up("ann@example.org"), 400, "Ungültige Anfrage")


@pytest.mark.parametrize("document", [{"email": "a\x00b"}, {"a\x00": 1}, [[{"x": ["\x00"]}]]])
def test_nul_in_a_json_body_is_a_400(client, document):
    _assert_page(client.post("/subscribe", json=document, headers=ENGLISH), 400, "Bad request")


@pytest.mark.parametrize("path", ["/confirm/a%00b", "/unsubscribe/%00", "/preferences/x%00/erase", "/%00"])
def test_nul_in_the_path_is_a_400(client, path):
    _assert_page(client.get(path, headers=ENGLISH), 400, "Bad request")


def test_nul_in_the_admin_login_is_a_400(app, client):
    data = {"csrf_token": csrf_token(client), "email": "a\x00b", "password": "whatever-it-is"}
    _assert_page(client.post("/admin/login", data=data, headers=ENGLISH), 400, "Bad request")


def test_nul_in_an_admin_query_is_a_400(admin_client):
    for query in ["q=a%00b", "q=%00", "status=%00", "a%00=1"]:
        _assert_page(admin_client.get(f"/admin/subscribers?{query}", headers=ENGLISH), 400, "Bad request")


def test_ids_beyond_the_database_integer_are_a_404(admin_client):
    for route in ID_ROUTES:
        for number in [BEYOND_INT4, BEYOND_INT64, HUGE]:
            path = route.format(number)
            _assert_page(admin_client.get(path, headers=ENGLISH), 404, "Page not found")
            if path.endswith(("/edit", "/withdraw")):
                _assert_page(post(admin_client, path, headers=ENGLISH), 404, "Page not found")


def test_numbers_in_a_query_beyond_their_range_are_a_400(admin_client):
    for query in [
        f"/admin/articles?page={HUGE}",
        f"/admin/articles?page={BEYOND_INT4}",
        "/admin/articles?page=%C2%B2",  # "²" is a digit to str.isdigit, not to int()
        f"/admin/digests?before={BEYOND_INT4}",
        f"/admin/digests?before={HUGE}",
        "/admin/digests?before=%C2%B2",
        f"/admin/subscribers?before={BEYOND_INT4}",
        f"/admin/subscribers?after={BEYOND_INT64}",
        "/admin/subscribers?after=%C2%B9",
        "/admin/articles?page=-1",
        "/admin/digests?before=abc",
    ]:
        _assert_page(admin_client.get(query, headers=ENGLISH), 400, "Bad request")


def test_a_status_filter_that_is_no_status_is_a_400(admin_client):
    for status in ["%20", "%E2%80%A8", "%09", "nonsense", "CONFIRMED"]:
        response = admin_client.get(f"/admin/subscribers?status={status}", headers=ENGLISH)
        assert response.status_code == 400, status
        assert "There is no such status to filter by." in response.get_data(as_text=True)


def _article_form(admin_client, path: str, **changes) -> dict:
    good = {
        "title": "Zinsen steigen wieder",
        "url": "https://example.org/zinsen",
        "summary": "",
        "body_html": "",
        "published_at": "2026-03-05T10:30",
    }
    return post(admin_client, path, {**good, **changes}, headers=ENGLISH)


@pytest.fixture
def article_id(app) -> int:
    with app.app_context():
        article = add_article()
        db.session.commit()
        return article.id


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("published_at", "0001-01-01T00:00", "between the years"),
        ("published_at", "9999-12-31T23:59", "between the years"),
        ("published_at", "1899-12-31T23:59", "between the years"),
        ("url", "https://[::1", "starting with http:// or https://"),
        ("url", "https://[::1]:99999/", "starting with http:// or https://"),
        ("url", "http://[zz]/", "starting with http:// or https://"),
    ],
)
def test_article_times_and_urls_beyond_what_can_be_held_get_the_form_again(
    app, admin_client, article_id, field, value, message
):
    for path in ["/admin/articles/new", f"/admin/articles/{article_id}/edit"]:
        response = _article_form(admin_client, path, **{field: value})
        assert response.status_code == 422, (path, response.get_data(as_text=True)[:2000])
        html = response.get_data(as_text=True).replace("&#39;", "'")
        assert f'id="{field}-errors"' in html and message in html
    with app.app_context():
        [article] = db.session.execute(db.select(Article)).scalars()
        assert article.url.startswith("https://example.org/articles/")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--published-at", "0001-01-01T00:00", "between 1900 and 2999"), ("--url", "https://[::1", "cannot be read")],
)
def test_the_add_article_command_refuses_what_cannot_be_held_clearly(runner, option, value, message):
    args = {"--title": "T", "--url": "https://example.org/a", option: value}
    result = runner.invoke(args=["add-article", *[part for pair in args.items() for part in pair]])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_an_import_row_with_a_time_beyond_the_years_held_is_a_bad_row(app, runner, tmp_path):
    path = tmp_path / "subscribers.csv"
    path.write_text(
        "email,consented_at,confirmed_at,ip,source\n"
        "old@example.org,0001-01-01T00:00,0001-01-01T00:05,,\n"
        "late@example.org,9999-12-31T23:59:59-01:00,,,\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["import-subscribers", str(path)])
    assert result.exit_code == 1, result.output
    assert "line 2: " in result.output and "line 3: " in result.output
    assert "outside the years 1900 to 2999" in result.output


def test_a_feed_time_beyond_the_years_held_counts_as_unknown():
    assert feeds._time(time.struct_time((1, 1, 1, 0, 0, 0, 0, 1, 0))) is None
    assert feeds._time(time.struct_time((9999, 12, 31, 23, 59, 0, 4, 365, 0))) is None
    assert feeds._time(time.struct_time((2026, 3, 1, 9, 0, 0, 6, 60, 0))) == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
