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


def consent_text(client, language: str = "de", origin: str = PUBLISHER) -> dict:
    """GET /api/v1/consent-text as the widget on a page of ``origin`` asks for it."""
    response = client.get(f"/api/v1/consent-text?lang={language}", headers={**BROWSER, "Origin": origin})
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
    data = {"email": email, "consent_version": consent_text(client)["version"], **fields}
    return client.post("/subscribe", data=data, headers=headers)
