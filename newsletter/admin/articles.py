"""Articles: the list (with the digest each went into), create, edit, keep out of digests,
delete."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from .. import articles
from ..extensions import db
from ..images import ArticleImage
from ..inputs import int_arg
from ..models import AdminRole, Article, ArticleSource, Digest, KeptOut
from .audited import note
from .blueprint import bp
from .forms import ArticleForm, ConfirmForm
from .roles import allow

PAGE_SIZE = 50


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


@bp.get("/articles")
@allow(AdminRole.EDITOR)
def article_list():
    page = int_arg("page", 1, minimum=1)
    total = db.session.execute(select(func.count()).where(articles.shown_in_admin())).scalar_one()
    rows = db.session.execute(
        select(Article, Digest)
        .outerjoin(Digest, Article.digest_id == Digest.id)
        .where(articles.shown_in_admin())
        .order_by(Article.published_at.desc(), Article.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template("admin/articles/list.html", rows=rows, total=total, page=page, pages=pages)


@bp.route("/articles/new", methods=["GET", "POST"])
@allow(AdminRole.EDITOR)
def article_new():
    form = ArticleForm()
    if request.method == "GET":
        return render_template("admin/articles/form.html", form=form, article=None)
    if form.validate() and _url_is_free(form):
        saved = _save(form, None)
        if saved is not None:
            note("article.create", f"article {saved.id}", saved.title)
            db.session.commit()
            flash(_("Article “%(title)s” added; it goes into the next digest.", title=saved.title), "success")
            return redirect(url_for("admin.article_list"))
    return render_template("admin/articles/form.html", form=form, article=None), 422


@bp.route("/articles/<int:article_id>/edit", methods=["GET", "POST"])
@allow(AdminRole.EDITOR)
def article_edit(article_id: int):
    article = _listed_or_404(article_id)
    form = ArticleForm(obj=article)
    if request.method == "GET":
        form.published_at.data = article.published_at.astimezone(_zone()).replace(tzinfo=None)
        return _render_form(form, article)
    if form.validate() and _save(form, article) is not None:
        note("article.edit", f"article {article.id}", article.title)
        db.session.commit()
        flash(_("Article “%(title)s” saved.", title=article.title), "success")
        return redirect(url_for("admin.article_list"))
    return _render_form(form, article, 422)


def _render_form(form: ArticleForm, article: Article, status: int = 200):
    return render_template("admin/articles/form.html", form=form, article=article, action_form=ConfirmForm()), status


def _listed_or_404(article_id: int) -> Article:
    """The article, unless it is unknown or a deleted feed article's tombstone."""
    article = db.get_or_404(Article, article_id)
    if article.kept_out is KeptOut.DELETED:
        abort(404)
    return article


@bp.post("/articles/<int:article_id>/keep-out")
@allow(AdminRole.EDITOR)
def article_keep_out(article_id: int):
    """Keep an article out of every digest (``out=1``), or let it into the next one (``out=0``)."""
    article = _listed_or_404(article_id)
    if not ConfirmForm().validate() or request.form.get("out") not in ("0", "1"):
        abort(400)
    out = request.form["out"] == "1"
    try:
        articles.keep_out(article, out)
    except articles.AlreadyMailed:
        flash(_("This article was already mailed in a digest; it stays there."), "info")
        return redirect(url_for("admin.article_edit", article_id=article.id))
    note("article.keep-out" if out else "article.let-in", f"article {article.id}", article.title)
    db.session.commit()
    if out:
        flash(_("“%(title)s” is kept out of digests.", title=article.title), "success")
    else:
        flash(_("“%(title)s” goes into the next digest.", title=article.title), "success")
    return redirect(url_for("admin.article_list"))


@bp.route("/articles/<int:article_id>/delete", methods=["GET", "POST"])
@allow(AdminRole.EDITOR)
def article_delete(article_id: int):
    """Delete an article not yet mailed, after a confirmation."""
    article = _listed_or_404(article_id)
    form = ConfirmForm()
    if article.digest_id is not None:
        flash(_("This article was already mailed in a digest; it stays there."), "info")
        return redirect(url_for("admin.article_edit", article_id=article.id))
    if request.method == "GET" or not form.validate():
        return render_template("admin/articles/delete.html", article=article, form=form)
    title = article.title
    note("article.delete", f"article {article.id}", title)
    articles.delete_article(article)
    db.session.commit()
    flash(_("Article “%(title)s” deleted.", title=title), "success")
    return redirect(url_for("admin.article_list"))


def _url_is_free(form: ArticleForm) -> bool:
    """A new article's URL is its identity; a second article with it would overwrite the first."""
    if articles.find_by_guid(articles.clean_url(form.url.data)) is None:
        return True
    form.url.errors.append(_("An article with this address exists already; edit that one instead."))
    return False


def _save(form: ArticleForm, article: Article | None) -> Article | None:
    """Hand the form to the articles service; its objections go next to the fields."""
    published_at = form.published_at.data
    if published_at is not None:
        published_at = published_at.replace(tzinfo=_zone())  # typed in TIMEZONE
    fields = {
        "title": form.title.data,
        "url": form.url.data,
        "summary": form.summary.data,
        "body_html": form.body_html.data,
        "published_at": published_at,
        "image": _image(form, article),
    }
    try:
        if article is None:
            article = articles.save_article(source=ArticleSource.ADMIN, **fields).article
        else:
            articles.update_article(article, **fields)
    except articles.ArticleError as exc:
        db.session.rollback()
        field = {"guid": "url"}.get(exc.field, exc.field)
        getattr(form, field, form.title).errors.append(str(exc))
        return None
    return article


def _image(form: ArticleForm, article: Article | None) -> ArticleImage | None:
    """The form's picture; the size a feed gave is kept while the address stays the same."""
    url = (form.image_url.data or "").strip()
    if not url:
        return None
    known = articles.image_of(article) if article is not None else None
    if known is not None and known.url == url:
        return ArticleImage(url, known.width, known.height, form.image_alt.data)
    return ArticleImage(url, alt=form.image_alt.data)
