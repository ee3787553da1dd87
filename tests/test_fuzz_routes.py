"""Every route, public and admin, answers any input with less than 500 (issue 12 point 6).

Hypothesis drives each rule of ``app.url_map`` (routes added later are picked up by
themselves) with generated methods, path values for each converter, query strings, form
bodies and headers: NUL and other control characters, U+2028, odd and very long text,
numbers far beyond any column, impossible dates, broken URLs, and the valid values the
service hands out (ids, tokens, the consent version, a CSRF token of the session) so that
requests get past the first check and reach the views' own validation. It runs once signed
in as an admin and once as a stranger, each example in a fresh client carrying the same
session. A 5xx fails the test naming the request and the traceback the app logged.

Deterministic (``derandomize``) and bounded: NEWSLETTER_FUZZ_EXAMPLES examples per rule and
mode (default 12); set it higher for a longer local run.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.routing import IntegerConverter, PathConverter, Rule

from newsletter import consent, digest, tokens
from newsletter.extensions import db
from newsletter.models import DigestTrigger, SubscriberStatus
from tests.support.admin import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, csrf_token, sign_in
from tests.support.factories import add_article, add_subscriber

EXAMPLES = int(os.environ.get("NEWSLETTER_FUZZ_EXAMPLES", "12"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

#: Values the review's fuzz and common attacks use, beside what Hypothesis makes up.
SPECIAL = [
    "", " ", "\x00", "a\x00b", "\u2028", "\u2029", "\t", "\r\n", "\x07", "\x1b[2J", "\x7f", "\x85",
    "\ufeff", "\ufffd", "\uffff", "\U0010ffff", "\u202e", "😀", "ß", "İ", "ǅ", "\u0301", "ﬀ",
    "<script>alert(1)</script>", "' OR 1=1 --", "%", "%00", "%%", "..", "../../etc/passwd", "/", "\\",
    "//evil.example", "https://[::1", "http://[", "https://[::1]:99999/", "http://xn--/", "javascript:alert(1)",
    "0", "-1", "+1", "1.5", "1e309", "NaN", "²", "١٢", "2147483647", "2147483648", "4294967296",
    "9223372036854775807", "9223372036854775808", str(10**20), str(10**400),
    "0001-01-01T00:00", "9999-12-31T23:59", "2026-02-30T10:00", "2026-03-05T10:30", "1899-12-31T23:59",
    "a" * 255, "a" * 5000, "x@" + "a" * 300 + ".de", "ann@example.org", "ANN@EXAMPLE.ORG", "a@b", "@", "a@[::1]",
    "pending", "confirmed", "CONFIRMED", "de", "en", "fr", "One-Click",
]
#: Query parameter names the views read (and a few they do not).
QUERY_NAMES = ["page", "before", "after", "q", "status", "lang", "next", "token", "id"]
#: Form field names beyond those of the service's forms (found below): the honeypot, one-click, the preview.
EXTRA_FIELDS = ["List-Unsubscribe", "lang", "website", "next", "id"]
LANGUAGES = ["de", "en", "en-GB,en;q=0.9", "fr", "*"]
#: How a generated body is sent, and its Content-Type.
BODY_TYPES = {
    "urlencoded": "application/x-www-form-urlencoded",
    "multipart": "multipart/form-data",
    "json": "application/json",
}
#: Stands for the CSRF token of the session in a generated form; replaced when the request is sent.
CSRF = "{csrf}"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def _form_field_names() -> list[str]:
    """The field names of every form of the service, so new forms are fuzzed too."""
    from flask_wtf import FlaskForm

    names = {name for form in _all_subclasses(FlaskForm) for name, _ in getattr(form, "_unbound_fields", None) or []}
    return sorted(names | set(EXTRA_FIELDS))


hostile_text = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=30),
    st.text(st.characters(codec="latin-1"), max_size=30),
    st.integers(-(2**70), 2**70).map(str),
    st.datetimes().map(lambda moment: moment.isoformat(timespec="minutes")),
    st.tuples(st.text(max_size=12), st.sampled_from(["example.org", "exämple.de", "[::1]", ""])).map("@".join),
    st.integers(256, 2500).map(lambda length: "ä" * length),
)
#: Header values as a server hands them over: latin-1, no line breaks (NUL included).
header_text = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=60)


@dataclass
class World:
    """What the service handed out: valid ids, tokens and form values to mix into the input."""

    ids: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    #: A value each form field accepts, so that one hostile field is what a view has to handle.
    valid_form: dict[str, str] = field(default_factory=dict)


def _make_world(app) -> World:
    with app.app_context():
        reader = add_subscriber("reader@example.org")
        pending = add_subscriber("pending@example.org", SubscriberStatus.PENDING)
        add_subscriber(None, SubscriberStatus.ERASED)
        add_article(title="In a digest")
        db.session.flush()
        issue = digest.build_digest(DigestTrigger.ADMIN)
        waiting = add_article(title="Waiting for the next digest")
        version = consent.text_version("de").sha256
        world = World(
            ids=sorted({str(reader.id), str(pending.id), str(issue.id), str(waiting.id), "1"}),
            tokens=[
                tokens.make_confirm_token(pending),
                tokens.make_preferences_token(reader),
                tokens.make_unsubscribe_token(reader),
                tokens.make_unsubscribe_token(pending),
            ],
            values=[version, "reader@example.org", ADMIN_EMAIL, ADMIN_PASSWORD, "confirmed"],
            valid_form={
                "email": "new.reader@example.org",
                "website": "",
                "consent_version": version,
                "password": ADMIN_PASSWORD,
                "title": "A title",
                "url": "https://example.org/fuzz",
                "summary": "A summary.",
                "body_html": "<p>A body.</p>",
                "published_at": "2026-03-05T10:30",
                "lang": "en",
            },
        )
        db.session.commit()
    return world


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    form: dict[str, str] | None
    raw_body: bytes | None
    #: How the body is sent: one of BODY_TYPES.
    encoding: str
    headers: dict[str, str]

    def describe(self) -> str:
        target = self.path + (f"?{self.query}" if self.query else "")
        body = self.form if self.raw_body is None else self.raw_body
        return f"{self.method} {target}\n  body ({self.encoding}): {body!r}\n  headers: {self.headers!r}"


_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def _path_value(converter, world: World) -> st.SearchStrategy[str]:
    if isinstance(converter, IntegerConverter):
        numbers = st.one_of(st.integers(0, 2**80), st.sampled_from([2**31 - 1, 2**31, 2**63, 10**20]))
        return st.one_of(st.sampled_from(world.ids), numbers.map(str), hostile_text)
    if isinstance(converter, PathConverter):
        return st.one_of(st.sampled_from(["style.css", "admin.js", "../config.py", "..%2f..%2fetc"]), hostile_text)
    mutated = st.tuples(st.sampled_from(world.tokens), st.integers(0, 60), hostile_text).map(
        lambda parts: parts[0][: parts[1]] + parts[2] + parts[0][parts[1] :]
    )
    return st.one_of(st.sampled_from(world.tokens), mutated, hostile_text)


#: Explicit examples for every rule, before the generated ones: what the review's fuzz found.
#: Path numbers and query values beyond every column, whitespace that is no status, NUL.
EDGE_QUERIES = [str(2**63), "2147483648", " \u2028", "²"]
#: Field values a form may accept as such and a view then fail on, each sent with an otherwise valid form.
EDGE_FIELDS = [
    ("published_at", "0001-01-01T00:00"),
    ("published_at", "9999-12-31T23:59"),
    ("url", "https://[::1"),
    ("email", "a\x00b@example.org"),
    ("consent_version", "\x00"),
]


def examples_for(rule: Rule, world: World) -> list[Request]:
    return [found for method in sorted(rule.methods - {"OPTIONS", "HEAD"}) for found in _examples(rule, method, world)]


def _examples(rule: Rule, method: str, world: World) -> list[Request]:
    posts = method in UNSAFE_METHODS
    base = {**world.valid_form, "csrf_token": CSRF} if posts else None

    def request(number: str, token: str, query: str, form: dict[str, str] | None) -> Request:
        path = rule.rule
        for match in _ARGUMENT.finditer(rule.rule):
            converter = rule._converters[match.group(1)]
            value = number if isinstance(converter, IntegerConverter) else token
            path = path.replace(match.group(0), quote(value, safe=""), 1)
        return Request(method, path, query, form, None, "urlencoded", {"Accept-Language": "en"})

    found = []
    for edge in EDGE_QUERIES:
        number = edge if edge.isdigit() else "2147483648"
        found.append(request(number, world.tokens[0], urlencode(dict.fromkeys(QUERY_NAMES, edge)), base))
    found.append(request("1\x00", "a\x00b", "q=a%00b", base and dict.fromkeys(base, "\x00")))
    if posts:
        found += [request(world.ids[0], world.tokens[0], "", {**base, name: value}) for name, value in EDGE_FIELDS]
    return found


def requests_for(rule: Rule, world: World) -> st.SearchStrategy[Request]:
    """Requests to ``rule``: mostly its own methods, now and then another."""
    allowed = sorted(rule.methods - {"OPTIONS"}) or ["GET"]
    methods = st.sampled_from(allowed * 4 + ["OPTIONS", "PUT", "DELETE", "PATCH"])
    value = st.one_of(hostile_text, st.sampled_from(world.values + world.ids + world.tokens))
    arguments = [
        (match.group(0), _path_value(rule._converters[match.group(1)], world), rule._converters[match.group(1)])
        for match in _ARGUMENT.finditer(rule.rule)
    ]
    query = st.lists(st.tuples(st.one_of(st.sampled_from(QUERY_NAMES), hostile_text), value), max_size=4)
    changes = st.dictionaries(st.one_of(st.sampled_from(_form_field_names()), hostile_text), value, max_size=4)
    form = st.tuples(st.booleans(), changes).map(lambda pair: {**(world.valid_form if pair[0] else {}), **pair[1]})
    csrf_value = st.sampled_from([CSRF, CSRF, CSRF, "", "x", CSRF + "A", CSRF + "\x00"])
    language = st.one_of(st.sampled_from(LANGUAGES), header_text)
    user_agent = st.one_of(st.none(), header_text)

    @st.composite
    def build(draw) -> Request:
        method = draw(methods)
        path = rule.rule
        for placeholder, strategy, converter in arguments:
            safe = "/" if isinstance(converter, PathConverter) else ""
            path = path.replace(placeholder, quote(draw(strategy), safe=safe), 1)
        query_string = urlencode(draw(query))
        fields = raw_body = None
        encoding = draw(st.sampled_from(list(BODY_TYPES)))
        if method in UNSAFE_METHODS:
            if draw(st.integers(0, 9)) == 0:
                raw_body = draw(st.binary(max_size=300))
            else:
                fields = draw(form)
                token = draw(csrf_value)
                if token:
                    fields["csrf_token"] = token
        headers = {"Accept-Language": draw(language)}
        agent = draw(user_agent)
        if agent is not None:
            headers["User-Agent"] = agent
        return Request(method, path, query_string, fields, raw_body, encoding, headers)

    return build()


class _Errors(logging.Handler):
    """The tracebacks the app logs while one request runs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        formatter = logging.Formatter("%(name)s: %(message)s")
        return "\n".join(formatter.format(record) for record in self.records) or "(nothing logged)"


class Session:
    """A signed-in admin or a stranger; each request in a fresh client with the same cookie."""

    def __init__(self, app, admin: bool) -> None:
        self.app = app
        self.admin = admin
        self.requests = 0
        self.refresh()

    def refresh(self) -> None:
        client = self.app.test_client()
        if self.admin:
            response = sign_in(client)
            assert response.status_code == 302, response.get_data(as_text=True)
        self.csrf = csrf_token(client, "/admin/" if self.admin else "/subscribe")
        self.cookie = client.get_cookie("session").value

    def _client(self):
        client = self.app.test_client()
        client.set_cookie("session", self.cookie)
        return client

    def send(self, request: Request):
        self.requests += 1
        kwargs = {"method": request.method, "query_string": request.query, "headers": request.headers}
        if request.raw_body is not None:
            kwargs.update(data=request.raw_body, content_type=BODY_TYPES[request.encoding])
        elif request.form is not None:
            fields = {name: value.replace(CSRF, self.csrf) for name, value in request.form.items()}
            if request.encoding == "json":
                kwargs["json"] = fields
            else:
                kwargs.update(data=fields, content_type=BODY_TYPES[request.encoding])
        response = self._client().open(request.path, **kwargs)
        response.get_data()  # a streamed body fails while it is read; kept for the caller
        response.close()
        return response


def _assert_clear_page(response, body: str, request: Request, languages: list[str]) -> None:
    """A refusal is a page with a heading in the language the browser prefers (or JSON for an API)."""
    where = f"{response.status_code} for {request.describe()}"
    if response.mimetype == "application/json":
        json.loads(body)
        return
    preferred = parse_accept_header(request.headers["Accept-Language"], LanguageAccept)
    language = preferred.best_match(languages, default=languages[0])
    assert response.mimetype == "text/html", where
    assert f'<html lang="{language}"' in body and "<h1" in body, f"{where}\n{body[:1500]}"


class ServerError(AssertionError):
    """A request answered with 5xx (or showed a traceback); the message says which and why."""


def _fuzz(rule: Rule, session: Session, world: World, errors: _Errors) -> None:
    def run(request: Request) -> None:
        errors.records.clear()
        response = session.send(request)
        body = response.get_data(as_text=True)
        if response.status_code >= 500 or "Traceback" in body:
            raise ServerError(
                f"{response.status_code} from {rule.endpoint} ({rule.rule}) for\n  {request.describe()}\n"
                f"logged:\n{errors.text()}"
            )
        if 400 <= response.status_code < 500 and request.method != "HEAD":
            _assert_clear_page(response, body, request, session.app.config["LANGUAGES"])
        # Signed out (or the session ended otherwise): sign in again for the examples still to come.
        if session.admin and response.status_code == 302 and response.location.startswith("/admin/login"):
            session.refresh()

    for request in examples_for(rule, world):
        run = example(request=request)(run)
    FUZZ_SETTINGS(given(request=requests_for(rule, world))(run))()


@pytest.mark.parametrize("admin", [True, False], ids=["signed-in admin", "stranger"])
def test_no_route_answers_generated_input_with_a_5xx(app, admin):
    create_admin(app)
    world = _make_world(app)
    session = Session(app, admin)
    errors = _Errors()
    failures: list[str] = []
    logging.getLogger().addHandler(errors)
    try:
        for rule in sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint)):
            try:
                _fuzz(rule, session, world, errors)
            except ServerError as exc:  # shrunk to a smallest example by Hypothesis; go on with the next rule
                failures.append(str(exc))
    finally:
        logging.getLogger().removeHandler(errors)
    if failures:
        pytest.fail(f"{len(failures)} routes answered with 5xx:\n\n" + "\n\n".join(failures), pytrace=False)
    rules = len(list(app.url_map.iter_rules()))
    assert session.requests >= rules * EXAMPLES, (session.requests, rules)
