"""An article's picture (issue 15 point 2): taken from the feed (media:content, media:thumbnail,
an image enclosure, else the first image of the content), or given with `add-article
--image-url` and in the admin's form; https only, with its size where known and an alt text;
the digest shows it with width, height and alt.
"""

from __future__ import annotations

import pytest

from newsletter.extensions import db
from newsletter.images import ArticleImage
from newsletter.models import Article
from tests.support.admin import post

RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}
MEDIA = "http://search.yahoo.com/mrss/"


def feed(*items: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<rss version="2.0" xmlns:media="{MEDIA}" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<channel><title>Blog</title><link>https://blog.example.org/</link><description>d</description>"
        + "".join(items)
        + "</channel></rss>"
    )


def entry(number: int, extra: str) -> str:
    return (
        f"<item><guid>https://blog.example.org/?p={number}</guid><title>Post {number}</title>"
        f"<link>https://blog.example.org/{number}</link>{extra}</item>"
    )


ENTRIES = {
    # media:content with a size, preferred over the thumbnail and the content's image
    1: '<media:content url="https://cdn.example.org/1.jpg" medium="image" width="1200" height="630"/>'
    '<media:thumbnail url="https://cdn.example.org/1-small.jpg" width="150" height="150"/>'
    '<content:encoded><![CDATA[<p><img src="https://cdn.example.org/1-body.jpg"></p>]]></content:encoded>',
    # a thumbnail only
    2: '<media:thumbnail url="https://cdn.example.org/2.jpg" width="640" height="480"/>',
    # an image enclosure; an audio enclosure is no picture
    3: '<enclosure url="https://cdn.example.org/3.mp3" type="audio/mpeg" length="1"/>'
    '<enclosure url="https://cdn.example.org/3.png" type="image/png" length="1"/>',
    # the first image of the content, after a tracking pixel and with its alt text
    4: "<content:encoded><![CDATA[<p>Text "
    '<img src="https://stats.example.org/pixel.gif" width="1" height="1">'
    '<img src="https://cdn.example.org/4.webp" width="800" height="400" alt="Die neue Halle"></p>]]>'
    "</content:encoded>",
    # plain http is never taken, wherever it stands
    5: '<media:content url="http://cdn.example.org/5.jpg" medium="image"/>'
    '<content:encoded><![CDATA[<img src="http://cdn.example.org/5b.jpg">]]></content:encoded>',
    6: "<description>No picture at all</description>",
}


def images(app) -> dict[str, ArticleImage | None]:
    with app.app_context():
        rows = db.session.execute(db.select(Article).order_by(Article.id)).scalars()
        return {
            row.title: ArticleImage(row.image_url, row.image_width, row.image_height, row.image_alt)
            if row.image_url
            else None
            for row in rows
        }


def test_a_feed_entry_brings_its_picture(app, runner, http_server):
    url = http_server.serve("/rss.xml", feed(*(entry(n, extra) for n, extra in ENTRIES.items())), headers=RSS_TYPE)
    result = runner.invoke(args=["import-feed", url])
    assert result.exit_code == 0, result.output
    assert images(app) == {
        "Post 1": ArticleImage("https://cdn.example.org/1.jpg", 1200, 630, None),
        "Post 2": ArticleImage("https://cdn.example.org/2.jpg", 640, 480, None),
        "Post 3": ArticleImage("https://cdn.example.org/3.png", None, None, None),
        "Post 4": ArticleImage("https://cdn.example.org/4.webp", 800, 400, "Die neue Halle"),
        "Post 5": None,
        "Post 6": None,
    }


def test_add_article_takes_an_https_image_url_only(app, runner):
    result = runner.invoke(args=[
        "add-article", "--title", "Mit Bild", "--url", "https://example.org/a",
        "--image-url", "https://cdn.example.org/a.jpg", "--image-alt", "Ein Bild",
    ])
    assert result.exit_code == 0, result.output
    assert images(app) == {"Mit Bild": ArticleImage("https://cdn.example.org/a.jpg", None, None, "Ein Bild")}

    for bad in ("http://cdn.example.org/a.jpg", "javascript:alert(1)", "https://cdn.example.org/a b.jpg"):
        result = runner.invoke(
            args=["add-article", "--title", "X", "--url", "https://example.org/b", "--image-url", bad]
        )
        assert result.exit_code == 2, result.output
        assert "--image-url" in result.output and "Traceback" not in result.output
    assert list(images(app)) == ["Mit Bild"]


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_admin_sets_and_removes_the_picture(app, admin_client, language):
    admin_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    form = {"title": "Bildartikel", "url": "https://example.org/bild", "image_url": "http://cdn.example.org/x.jpg"}
    response = post(admin_client, "/admin/articles/new", form)
    assert response.status_code == 422
    assert "https://" in response.get_data(as_text=True) and images(app) == {}

    form.update(image_url="https://cdn.example.org/x.jpg", image_alt="Ein Bild")
    assert post(admin_client, "/admin/articles/new", form).status_code == 302
    assert images(app) == {"Bildartikel": ArticleImage("https://cdn.example.org/x.jpg", None, None, "Ein Bild")}

    with app.app_context():
        article_id = db.session.execute(db.select(Article.id)).scalar_one()
    page = admin_client.get(f"/admin/articles/{article_id}/edit").get_data(as_text=True)
    assert 'value="https://cdn.example.org/x.jpg"' in page and 'value="Ein Bild"' in page
    form.update(image_url="", image_alt="")
    assert post(admin_client, f"/admin/articles/{article_id}/edit", form).status_code == 302
    assert images(app) == {"Bildartikel": None}
