"""The privacy notice says what the evidence keeps, as configured (COMPLIANCE items 3, 38)."""

from __future__ import annotations

import pytest

ENGLISH = {"Accept-Language": "en"}


@pytest.mark.parametrize(
    ("mode", "said", "not_said"),
    [
        ("full", "We also record your IP address and browser identification", "shortened IP address"),
        (
            "truncated",
            "We also record a shortened IP address and your browser identification",
            "your IP address and",
        ),
        ("none", "We do not record your IP address", "shortened IP address"),
    ],
)
def test_the_notice_names_what_is_kept_of_the_ip_address(app, client, mode, said, not_said):
    app.config["EVIDENCE_IP"] = mode
    page = client.get("/privacy", headers=ENGLISH).get_data(as_text=True)
    assert said in page and not_said not in page
    assert "browser identification" in page  # the user agent is kept in every mode
    assert "deleted with it" in page


def test_the_notice_names_the_retention_periods_and_the_way_to_ones_data(app, client):
    app.config.update(UNCONFIRMED_RETENTION_DAYS=10, EVIDENCE_RETENTION_DAYS=730)
    page = client.get("/privacy", headers=ENGLISH).get_data(as_text=True)
    assert "deleted after 10 days" in page and "kept for 730 days" in page
    assert 'href="/preferences"' in page and "keyed hash" in page
