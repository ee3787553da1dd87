"""Tokens: one salt per purpose, no address inside, expiry by the app's clock, key rotation."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from newsletter import tokens
from newsletter.extensions import db
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.models.subscriber import new_nonce


@pytest.fixture
def subscriber(app, clock):
    with app.app_context():
        subscriber = Subscriber(email="ann@example.org", status=SubscriberStatus.CONFIRMED, created_at=clock.now())
        db.session.add(subscriber)
        db.session.commit()
        return subscriber.id


def load(app, subscriber_id):
    return db.session.get(Subscriber, subscriber_id)


def test_a_token_of_one_purpose_is_refused_for_another(app, subscriber):
    with app.app_context():
        sub = load(app, subscriber)
        confirm = tokens.make_confirm_token(sub)
        preferences = tokens.make_preferences_token(sub)
        unsubscribe = tokens.make_unsubscribe_token(sub)
        assert tokens.load_confirm_token(confirm).id == subscriber
        assert tokens.load_preferences_token(preferences).id == subscriber
        assert tokens.load_unsubscribe_token(unsubscribe).id == subscriber
        for wrong in (preferences, unsubscribe):
            with pytest.raises(tokens.InvalidToken):
                tokens.load_confirm_token(wrong)
        for wrong in (confirm, unsubscribe):
            with pytest.raises(tokens.InvalidToken):
                tokens.load_preferences_token(wrong)
        for wrong in (confirm, preferences):
            with pytest.raises(tokens.InvalidToken):
                tokens.load_unsubscribe_token(wrong)


def test_confirm_and_preferences_tokens_expire_by_the_clock(app, subscriber, clock):
    with app.app_context():
        sub = load(app, subscriber)
        confirm, preferences = tokens.make_confirm_token(sub), tokens.make_preferences_token(sub)
        clock.advance(days=7, seconds=1)
        with pytest.raises(tokens.ExpiredToken):
            tokens.load_confirm_token(confirm)
        assert tokens.load_preferences_token(preferences).id == subscriber
        clock.advance(days=23)
        with pytest.raises(tokens.ExpiredToken):
            tokens.load_preferences_token(preferences)


def test_unsubscribe_tokens_never_expire(app, subscriber, clock):
    with app.app_context():
        token = tokens.make_unsubscribe_token(load(app, subscriber))
        clock.advance(days=3650)
        assert tokens.load_unsubscribe_token(token).id == subscriber


def test_changing_the_nonce_revokes_outstanding_tokens(app, subscriber):
    with app.app_context():
        sub = load(app, subscriber)
        confirm, preferences = tokens.make_confirm_token(sub), tokens.make_preferences_token(sub)
        sub.confirm_nonce = new_nonce()
        with pytest.raises(tokens.RevokedToken):
            tokens.load_confirm_token(confirm)
        assert tokens.load_preferences_token(preferences).id == subscriber
        sub.access_nonce = new_nonce()
        with pytest.raises(tokens.RevokedToken):
            tokens.load_preferences_token(preferences)


def test_old_links_survive_key_rotation(app, subscriber):
    with app.app_context():
        sub = load(app, subscriber)
        old = {
            "confirm": tokens.make_confirm_token(sub),
            "unsubscribe": tokens.make_unsubscribe_token(sub),
        }
        app.config["SECRET_KEY_FALLBACKS"] = [app.config["SECRET_KEY"]]
        app.config["SECRET_KEY"] = "a-new-secret"
        assert tokens.load_confirm_token(old["confirm"]).id == subscriber
        assert tokens.load_unsubscribe_token(old["unsubscribe"]).id == subscriber
        assert tokens.make_unsubscribe_token(sub) != old["unsubscribe"]  # signed with the new key
        app.config["SECRET_KEY_FALLBACKS"] = []
        with pytest.raises(tokens.InvalidToken):
            tokens.load_unsubscribe_token(old["unsubscribe"])


def test_tokens_for_unknown_subscribers_are_invalid(app):
    with app.app_context():
        ghost = Subscriber(id=999, email=None, status=SubscriberStatus.ERASED)
        token = tokens.make_unsubscribe_token(ghost)
        with pytest.raises(tokens.InvalidToken):
            tokens.load_unsubscribe_token(token)


def test_tokens_are_the_ones_itsdangerous_makes_by_default(app, subscriber, clock):
    """The sender's quicker signing changes nothing about the tokens: links in mails sent
    before it keep working, and any itsdangerous serializer with the key reads them."""
    key = app.config["SECRET_KEY"]
    with app.app_context():
        sub = load(app, subscriber)
        unsubscribe = tokens.make_unsubscribe_token(sub)
        preferences = tokens.make_preferences_token(sub)
    assert unsubscribe == URLSafeSerializer(key, salt=tokens.UNSUBSCRIBE).dumps(sub.id)
    standard = URLSafeTimedSerializer(key, salt=tokens.PREFERENCES)
    assert standard.loads(preferences) == [sub.id, sub.access_nonce]
    assert preferences.split(".")[0] == standard.dumps([sub.id, sub.access_nonce]).split(".")[0]
