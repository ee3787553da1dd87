"""Articles in the admin API (SPEC §9): list, add (the same URL again updates, as
``add-article``) and update, through :mod:`newsletter.articles`."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import current_app
from flask_smorest import abort
from sqlalchemy import select

from .. import articles
from ..extensions import db
from ..images import ArticleImage
from ..models import Article, ArticleSource
from . import auth, pages
from .base import blueprint
from .fields import Annotated

bp = blueprint("api_articles", __name__, "Articles: a bearer token; read scope for GET, write for the rest")
auth.protect(bp)


class ArticleSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    url = ma.fields.String()
    summary = ma.fields.String(allow_none=True)
    published_at = ma.fields.DateTime()
    image_url = ma.fields.String(allow_none=True)
    image_alt = ma.fields.String(allow_none=True)
    digest_id = ma.fields.Integer(allow_none=True, metadata={"description": "The digest it went out in; null: waiting"})
    kept_out = ma.fields.String(allow_none=True, metadata={"description": "Why it is kept out of digests"})


ArticlePage = pages.page_schema(ArticleSchema, "ArticlePage")


class SavedArticleSchema(ArticleSchema):
    outcome = ma.fields.String(metadata={"description": "created, updated or unchanged"})


class ArticleInputSchema(ma.Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(max=10_000))
    url = ma.fields.String(required=True, validate=ma.validate.Length(max=10_000))
    summary = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=100_000))
    published_at = ma.fields.NaiveDateTime(
        metadata={"description": "ISO 8601; without a zone: TIMEZONE; default now (new) or kept (known)"}
    )
    image_url = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=10_000))
    image_alt = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=10_000))


def _content(body: dict) -> dict:
    published_at = body.get("published_at")
    if published_at is not None and published_at.tzinfo is None:
        published_at = published_at.replace(tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))
    image_url = body.get("image_url")
    return {
        "title": body["title"],
        "url": body["url"],
        "summary": body.get("summary"),
        "published_at": published_at,
        "image": ArticleImage(image_url, alt=body.get("image_alt")) if image_url else None,
    }


def _refused(exc: articles.ArticleError):
    abort(422, message=str(exc), errors={exc.field: [str(exc)]})


@bp.route("/articles", methods=["GET"])
@bp.doc(security=auth.SECURITY)
@bp.arguments(pages.PageQuery, location="query")
@bp.response(200, ArticlePage)
def article_list(args):
    """Articles, newest first (by when they were added), a page at a time."""
    return pages.page(select(Article), Article.id, args)


@bp.route("/articles", methods=["POST"])
@bp.doc(security=auth.SECURITY)
@bp.arguments(ArticleInputSchema)
@bp.response(201, SavedArticleSchema, description="Added")
@bp.alt_response(200, schema=SavedArticleSchema, description="An article with this URL existed: updated")
def article_add(body):
    """Add an article, as ``add-article`` does: the same URL again updates that article."""
    try:
        saved = articles.save_article(**_content(body), source=ArticleSource.CLI)
    except articles.ArticleError as exc:
        _refused(exc)
    db.session.commit()
    code = 201 if saved.outcome is articles.Outcome.CREATED else 200
    return Annotated(saved.article, outcome=saved.outcome.value), code


@bp.route("/articles/<int:article_id>", methods=["PUT"])
@bp.doc(security=auth.SECURITY)
@bp.arguments(ArticleInputSchema)
@bp.response(200, SavedArticleSchema)
def article_update(body, article_id: int):
    """Set the article's content (title, URL, summary, time, picture)."""
    article = db.session.get(Article, article_id)
    if article is None:
        abort(404, message="No article has this id.")
    try:
        outcome = articles.update_article(article, **_content(body))
    except articles.ArticleError as exc:
        _refused(exc)
    db.session.commit()
    return Annotated(article, outcome=outcome.value)
