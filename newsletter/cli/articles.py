"""Commands about articles: adding one by hand, importing a feed."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import articles, feeds
from ..articles import ArticleError
from ..extensions import db
from ..images import ArticleImage
from ..models import ArticleSource
from .params import iso_datetime

#: The option that carries each field :class:`ArticleError` may name.
_OPTIONS = {
    "title": "--title",
    "url": "--url",
    "summary": "--summary",
    "published_at": "--published-at",
    "image_url": "--image-url",
}


@click.command("add-article")
@click.option("--title", required=True, help="The headline, one line.")
@click.option("--url", required=True, help="Where the article is, an absolute http(s) URL.")
@click.option("--summary", help="A short plain-text teaser shown in the digest.")
@click.option(
    "--published-at",
    callback=iso_datetime,
    metavar="ISO8601",
    help="Publication time, e.g. 2026-03-02T09:30 (TIMEZONE) or 2026-03-02T08:30Z; default now.",
)
@click.option("--image-url", help="The article's picture shown in the digest, an https URL.")
@click.option("--image-alt", help="What the picture shows, for readers who do not see it.")
@with_appcontext
def add_article(
    title: str, url: str, summary: str | None, published_at, image_url: str | None, image_alt: str | None
) -> None:
    """Add one article; adding the same URL again updates that article."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    if published_at is not None and published_at.tzinfo is None:
        published_at = published_at.replace(tzinfo=zone)
    try:
        saved = articles.save_article(
            title=title,
            url=url,
            summary=summary,
            published_at=published_at,
            image=ArticleImage(image_url, alt=image_alt) if image_url else None,
            source=ArticleSource.CLI,
        )
    except ArticleError as exc:
        option = _OPTIONS.get(exc.field, exc.field)
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None
    db.session.commit()
    article = saved.article
    published = article.published_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    click.echo(
        f"article {article.id} {saved.outcome.value}: {article.title} (published {published})"
    )


@click.command("import-feed")
@click.argument("url")
@with_appcontext
def import_feed(url: str) -> None:
    """Import the new and changed entries of the RSS or Atom feed at URL as articles."""
    result = feeds.poll(url)
    db.session.commit()  # a failure is recorded on the feed too
    if not result.ok:
        raise click.ClickException(f"cannot import {url}: {result.error}")
    click.echo(f"{url}: {result.describe()}")
    for warning in result.all_warnings():
        click.echo(f"warning: {warning}")


COMMANDS = [add_article, import_feed]
