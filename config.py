"""Default configuration of the newsletter service (SPEC §2).

Every key can be overridden by an environment variable ``NEWSLETTER_<KEY>``; values that parse
as JSON are typed (``true``, ``4``, ``["https://…"]``). An optional ``instance/config.py`` is
read between these defaults and the environment. Nothing secret belongs in this file.
"""


class Config:
    #: Signs sessions and tokens. The service refuses to start with this value outside
    #: debug and testing. Old keys go in SECRET_KEY_FALLBACKS (oldest first) so that links
    #: signed with them keep working after a rotation.
    SECRET_KEY = "dev-insecure-change-me"
    SECRET_KEY_FALLBACKS: list[str] = []
    #: Keys the suppression list's hashes (HMAC). None: a key generated once and stored with
    #: the data (table instance_secret), so rotating SECRET_KEY forgets no erasure. Set it to
    #: keep the key outside the database; never change it then: a new key forgets the list.
    SUPPRESSION_KEY: str | None = None

    #: None means ``sqlite:///<instance>/newsletter.db``.
    SQLALCHEMY_DATABASE_URI: str | None = None

    #: External URL under which every link in an email is built.
    BASE_URL = "http://127.0.0.1:5000"
    #: The publisher's name shown in pages and mails. Left at this placeholder, texts use
    #: neutral wording ("this newsletter") and the service warns at start outside debug.
    SITE_NAME = "Newsletter"
    #: The postal line (who sends, where), shown in every page's and mail's footer, e.g.
    #: "Beispiel GmbH, Musterstraße 1, 10115 Berlin".
    SITE_ADDRESS = ""
    #: Link to the operator's imprint (Impressum, § 5 DDG), in every page's and mail's footer.
    IMPRINT_URL: str | None = None
    #: Link to the operator's privacy notice; None shows the built-in page.
    PRIVACY_URL: str | None = None
    #: The publisher's logo (an https URL; about 360 × 120 px or wider, shown 180 px wide) in the
    #: pages' header and the digest's masthead. Never in the confirmation mail, which stays neutral.
    LOGO_URL: str | None = None
    #: The accent colour of buttons and links, e.g. "#0b6e4f"; None is a neutral blue.
    BRAND_COLOR: str | None = None

    #: ``file`` writes one .eml per message into <instance>/outbox; ``smtp`` uses the relay.
    MAIL_BACKEND = "file"
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_TIMEOUT = 30
    MAIL_DEFAULT_SENDER = "Newsletter <newsletter@localhost>"
    #: Parallel SMTP connections of one sender; optional messages per second.
    MAIL_CONCURRENCY = 4
    MAIL_RATE_LIMIT: float | None = None
    #: Processes that send one run of mail together on PostgreSQL (0: one per CPU); the
    #: connections and the rate above are divided between them. Always 1 on SQLite.
    SEND_PROCESSES = 0
    #: How long a claimed mail stays a sender's after its last renewal; a live sender renews
    #: every third of it, so only a dead sender's mails go to another one (after this long).
    SEND_LEASE_SECONDS = 60
    #: How often the worker looks for mail to send.
    SEND_INTERVAL_SECONDS = 5
    #: Hard bounces before a subscriber is suspended.
    BOUNCE_LIMIT = 1
    #: Soft bounces (temporary failures reported after the hand-over: 4.x.x DSNs) that suspend a
    #: subscriber when they come within SOFT_BOUNCE_WINDOW_DAYS.
    SOFT_BOUNCE_LIMIT = 5
    SOFT_BOUNCE_WINDOW_DAYS = 30
    #: VERP: with ``bounces@example.org`` each mail's envelope sender (MAIL FROM, hence the
    #: Return-Path) is ``bounces+<token>@example.org``, the token naming the mail. None: the
    #: envelope sender is MAIL_DEFAULT_SENDER's address.
    BOUNCE_ADDRESS: str | None = None
    #: ``host:port`` where the ``worker`` accepts bounce (DSN) and complaint (ARF) reports by
    #: SMTP, for BOUNCE_ADDRESS and its VERP addresses only (route them there from the MTA).
    BOUNCE_SMTP_LISTEN: str | None = None
    #: Largest report the bounce listener accepts (bytes).
    BOUNCE_MAX_BYTES = 4 * 1024 * 1024
    #: DKIM-sign every mail (rsa-sha256, relaxed/relaxed) for DKIM_DOMAIN with the RSA key (PEM,
    #: at least 2048 bits) in DKIM_PRIVATE_KEY_FILE, published under DKIM_SELECTOR
    #: (``flask dkim-record`` prints the DNS record). All three, or none.
    DKIM_DOMAIN: str | None = None
    DKIM_SELECTOR: str | None = None
    DKIM_PRIVATE_KEY_FILE: str | None = None

    #: For schedules and dates shown.
    TIMEZONE = "Europe/Berlin"
    #: Crontab line for the digest (standard cron: 0 and 7 are Sunday).
    DIGEST_SCHEDULE = "0 7 * * *"
    #: Articles one digest shows at most, newest first; the mail says how many more are on
    #: the site and links to it.
    DIGEST_MAX_ARTICLES = 20
    #: RSS/Atom feeds polled for new articles.
    FEED_URLS: list[str] = []
    #: How often the worker polls FEED_URLS.
    FEED_POLL_MINUTES = 30
    #: Seconds to wait for a feed server to connect or send more; a whole download gets twice that.
    FEED_TIMEOUT_SECONDS = 10
    #: Largest feed document accepted (bytes, after decompression); larger ones are refused.
    FEED_MAX_BYTES = 5 * 1024 * 1024
    #: On a feed's first import, entries older than this many days are kept as articles but
    #: never mailed (the site's archive is no news).
    FEED_BACKLOG_DAYS = 7
    #: Let feed fetching reach loopback, private and link-local addresses (redirects included).
    #: Off, such a feed is refused: a feed URL must not become a way into this machine's network.
    FEED_ALLOW_PRIVATE_NETWORKS = False
    #: Let webhooks reach loopback, private and link-local addresses (a CRM on the office
    #: network). Off, such a webhook URL is refused when added and again at every delivery.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    #: Seconds one webhook POST may take, connecting and the answer included.
    WEBHOOK_TIMEOUT_SECONDS = 10
    #: Origins (``https://www.example.de``, a port where it is not the default) whose pages
    #: may carry the sign-up: the widget, the iframe and the plain form (SPEC §8). None by default.
    EMBED_ORIGINS: list[str] = []
    #: Run the worker's jobs inside the web process. None means: only in debug.
    EMBEDDED_WORKER: bool | None = None

    #: Double-opt-in link lifetime; purge of never-confirmed sign-ups.
    CONFIRM_MAX_AGE_DAYS = 7
    UNCONFIRMED_RETENTION_DAYS = 14
    #: Confirmation mails one address can be sent per 24 h, whatever the client.
    DOI_MAX_PER_ADDRESS = 2
    #: Preferences-link lifetime; how long evidence of withdrawn consent is kept.
    PREFERENCES_MAX_AGE_DAYS = 30
    #: Fresh preferences links one address can be sent per 24 h on request, whatever the client.
    PREFERENCES_LINK_MAX_PER_ADDRESS = 2
    EVIDENCE_RETENTION_DAYS = 1095
    #: What of the client IP the consent evidence keeps: full, truncated or none.
    EVIDENCE_IP = "full"

    #: The consent statement shown above the button, per language. None uses the built-in
    #: wording. ``{site_name}`` and ``{button}`` are filled in. Every wording becomes a
    #: version with its SHA-256 (SPEC §7).
    CONSENT_TEXT: dict[str, str] | None = None

    #: Per-client limits on public forms (Flask-Limiter); 429 past them. ``memory://`` keeps
    #: them per process: with several web workers (gunicorn -w 4) each counts on its own, so
    #: production names a shared store, ``redis://host:6379``.
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_SUBSCRIBE = "5 per minute; 30 per hour"
    RATELIMIT_TOKEN_PAGES = "30 per minute"
    #: Requests per admin API token (SPEC §9); 429 past it.
    RATELIMIT_API_TOKEN = "600 per minute"
    #: The admin login throttle (kept in the database, on even with RATELIMIT_ENABLED false):
    #: failed sign-ins allowed per client (IPv4 address, IPv6 /64) and per address from one
    #: client; past them that client gets 429 until the window has passed. Once an address has
    #: failed the second number of times from all clients together, clients that failed for it
    #: get no further try, while a client that has not failed still gets in. One limit each.
    RATELIMIT_ADMIN_LOGIN_IP = "10 per 15 minutes"
    RATELIMIT_ADMIN_LOGIN_EMAIL = "5 per 15 minutes"
    RATELIMIT_HEADERS_ENABLED = False

    #: How many reverse proxies in front are trusted for X-Forwarded-For / X-Forwarded-Proto
    #: (Werkzeug ProxyFix). Set exactly the number of proxies that append to the header (1 for
    #: one nginx): the evidence and every per-client limit then use the client's address, and
    #: URLs built for the request see https. 0 ignores the headers (a client can forge them).
    PROXY_FIX_X_FOR = 0
    PROXY_FIX_X_PROTO = 0

    #: /metrics answers only with `Authorization: Bearer <token>`; unset: /metrics is 404.
    METRICS_TOKEN: str | None = None

    #: Languages offered; the first is the default.
    LANGUAGES = ["de", "en"]

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: Send the session cookie over HTTPS only. None means: when BASE_URL is https.
    SESSION_COOKIE_SECURE: bool | None = None
    #: Seconds after which a signed session cookie is refused whatever it holds (an admin
    #: session ends after 12 hours in any case; the cookie itself dies with the browser).
    PERMANENT_SESSION_LIFETIME = 12 * 60 * 60
    #: An admin session nobody used for this long ends; sign in again (to the minute).
    ADMIN_SESSION_IDLE_MINUTES = 60
    MAX_CONTENT_LENGTH = 1024 * 1024
