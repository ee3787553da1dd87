"""A publisher's site for the embedding tests (SPEC §8): its origin in EMBED_ORIGINS, and the
requests its pages make to the service."""

from __future__ import annotations

#: The publisher's site, as the tests' EMBED_ORIGINS names it.
PUBLISHER = "https://www.shop.example.de"
#: An article page on it, where the reader signs up.
ARTICLE = PUBLISHER + "/news/2026/spring-sale"
#: A site that is not allowed to embed the sign-up.
STRANGER = "https://elsewhere.example.net"

#: What a browser on the reader's side sends along.
BROWSER = {"User-Agent": "Mozilla/5.0 (pytest)", "Accept-Language": "de"}


def allow_publisher(config: dict, *origins: str) -> dict:
    """EMBED_ORIGINS for ``config``: the publisher (and ``origins``)."""
    config["EMBED_ORIGINS"] = [PUBLISHER, *origins]
    return config


def consent_text(client, language: str = "de", origin: str | None = PUBLISHER) -> dict:
    """GET /api/v1/consent-text as the widget on a page of ``origin`` asks for it (None: as
    the admin's snippet page takes it)."""
    headers = dict(BROWSER) if origin is None else {**BROWSER, "Origin": origin}
    response = client.get(f"/api/v1/consent-text?lang={language}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def api_sign_up(client, email: str, *, origin: str | None = PUBLISHER, version: str | None = None, **fields):
    """POST /api/v1/subscriptions from a page of ``origin`` (None: another program, no Origin),
    with the current German wording unless ``version`` names another."""
    body = {"email": email, "consent_version": version or consent_text(client)["version"], **fields}
    headers = dict(BROWSER) if origin is None else {**BROWSER, "Origin": origin}
    return client.post("/api/v1/subscriptions", json=body, headers=headers)


def plain_form_post(client, email: str, *, origin: str | None = PUBLISHER, referer: str | None = None, **fields):
    """The publisher's plain HTML form posting to /subscribe (no CSRF token, no cookie)."""
    headers = dict(BROWSER)
    if origin is not None:
        headers["Origin"] = origin
    if referer is not None:
        headers["Referer"] = referer
    data = {"email": email, "consent_version": consent_text(client, origin=None)["version"], **fields}
    return client.post("/subscribe", data=data, headers=headers)


def publisher_app(pages: dict[str, str], csp: str | None = None):
    """The publisher's site: a Flask app serving ``pages`` (path → body HTML) as article pages,
    under ``csp`` when given. Serve it with :class:`tests.support.browser.LiveServer`, on a
    port of its own: another origin than the service's."""
    from flask import Flask

    site = Flask("publisher_site")

    @site.get("/<path:path>")
    def page(path: str):
        body = pages.get("/" + path)
        if body is None:
            return "not here", 404
        document = (
            '<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Frühlingsangebote</title></head>'
            f"<body><main><h1>Frühlingsangebote</h1><p>Ein Artikel des Herausgebers.</p>{body}</main></body></html>"
        )
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if csp:
            headers["Content-Security-Policy"] = csp
        return document, 200, headers

    return site


def third_party_cookie_probe():
    """A site that sets a cookie from inside a frame (``/set``) and says whether it got it back
    (``/check``): proves the browser under test keeps no third-party cookie."""
    from flask import Flask, request

    probe = Flask("cookie_probe")

    @probe.get("/set")
    def set_cookie():
        return "<p>set</p>", 200, {"Set-Cookie": "probe=1; SameSite=None; Secure; Path=/"}

    @probe.get("/check")
    def check():
        return f"<p id=answer>{'kept' if request.cookies.get('probe') else 'blocked'}</p>"

    return probe
