"""Feeds as publishers' sites really send them: a WordPress feed with HTML entities and a blank
line before ``<?xml``, German dates and zones, legacy encodings declared wrongly or not at all."""

from __future__ import annotations


def wordpress(*items: str, before: str = "\n") -> str:
    """A WordPress-style RSS feed; ``before`` precedes ``<?xml`` (a classic plugin's blank line)."""
    return (
        before + '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">\n'
        "<channel>\n"
        "\t<title>Bäckerei Müller &#8211; Neues aus der Backstube</title>\n"
        '\t<atom:link href="https://www.baeckerei-mueller.de/feed/" rel="self" type="application/rss+xml" />\n'
        "\t<link>https://www.baeckerei-mueller.de</link>\n"
        "\t<description>Frisch gebacken seit 1910</description>\n"
        "\t<language>de-DE</language>\n"
        "\t<generator>https://wordpress.org/?v=6.4.2</generator>\n" + "".join(items) + "</channel>\n</rss>\n"
    )


def wp_item(number: int, title: str, *, pub_date: str | None = None, description: str = "Mehr im Blog.") -> str:
    url = f"https://www.baeckerei-mueller.de/2026/02/beitrag-{number}/"
    date = f"\t\t<pubDate>{pub_date}</pubDate>\n" if pub_date is not None else ""
    return (
        "\t<item>\n"
        f"\t\t<title>{title}</title>\n"
        f"\t\t<link>{url}</link>\n"
        "\t\t<dc:creator><![CDATA[admin]]></dc:creator>\n"
        f"{date}"
        f'\t\t<guid isPermaLink="false">https://www.baeckerei-mueller.de/?p={number}</guid>\n'
        f"\t\t<description><![CDATA[<p>{description}</p>]]></description>\n"
        "\t</item>\n"
    )


def plain_rss(*items: tuple[str, str], declaration: str = '<?xml version="1.0"?>', channel: str = "News") -> str:
    """A small RSS feed of (title, description) items, links numbered, no dates."""
    body = "".join(
        f"<item><title>{title}</title><link>https://news.example/{number}</link>"
        f"<description>{description}</description></item>"
        for number, (title, description) in enumerate(items, 1)
    )
    return f'{declaration}<rss version="2.0"><channel><title>{channel}</title>{body}</channel></rss>'


RUSSIAN = plain_rss(
    ("Привет, мир: новости дня", "Сегодня в Москве солнечно, температура воздуха около двадцати градусов."),
    ("Погода на выходные", "В субботу и воскресенье ожидается небольшой дождь и прохладный ветер."),
    channel="Новости",
)
JAPANESE = plain_rss(
    ("こんにちは世界、今日のニュースです", "東京は今日晴れです。気温は二十度くらいです。"),
    ("週末の天気予報", "土曜日と日曜日は雨が降るでしょう。傘を持って出かけてください。"),
    channel="ニュース",
)
GERMAN = plain_rss(
    ("Größere Brötchen für alle", "Ab Montag backen wir größer: süß und herzhaft, für Groß und Klein."),
    channel="Bäckerei Müller",
    declaration='<?xml version="1.0" encoding="ISO-8859-1"?>',
)
