/* Newsletter sign-up widget (SPEC §8): renders into every <div data-newsletter-signup> of the
   page, in a Shadow DOM, and signs up through the public API without leaving the page. No
   cookies, no storage; styled by the page through --nl-* custom properties. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = script.src.replace(/\/embed\.js(?:[?#].*)?$/, "");
  var TEXTS = {{ texts|tojson }};
  var SENDER = {{ sender|tojson }};
  var PRIVACY = {{ privacy_url|tojson }};
  var q = encodeURIComponent(SENDER);
  var gmx = function (tld) { return ["GMX", "https://www.gmx." + tld + "/"]; };
  var outlook = ["Outlook", "https://outlook.live.com/mail/0/"];
  var PROVIDERS = {
    "gmail.com": ["Gmail", "https://mail.google.com/mail/u/0/#search/from%3A" + q + "+in%3Aanywhere"],
    "yahoo.com": ["Yahoo Mail", "https://mail.yahoo.com/d/search/keyword=" + q],
    "icloud.com": ["iCloud Mail", "https://www.icloud.com/mail/"],
    "gmx.de": gmx("net"), "gmx.net": gmx("net"), "gmx.at": gmx("at"), "gmx.ch": gmx("ch"),
    "web.de": ["WEB.DE", "https://web.de/"],
    "t-online.de": ["T-Online", "https://email.t-online.de/"],
    "posteo.de": ["Posteo", "https://posteo.de/webmail/"],
    "mailbox.org": ["mailbox.org", "https://login.mailbox.org/"],
    "proton.me": ["Proton Mail", "https://mail.proton.me/u/0/all-mail#keyword=" + q],
    "aol.com": ["AOL Mail", "https://mail.aol.com/"],
    "freenet.de": ["freenet Mail", "https://webmail.freenet.de/"]
  };
  "hotmail.com hotmail.de outlook.com outlook.de live.com live.de msn.com".split(" ").forEach(function (d) {
    PROVIDERS[d] = outlook;
  });
  [["googlemail.com", "gmail.com"], ["yahoo.de", "yahoo.com"], ["ymail.com", "yahoo.com"], ["me.com", "icloud.com"],
   ["mac.com", "icloud.com"], ["posteo.net", "posteo.de"], ["protonmail.com", "proton.me"], ["aol.de", "aol.com"]
  ].forEach(function (p) { PROVIDERS[p[0]] = PROVIDERS[p[1]]; });
  var counter = 0;

  function el(name, attrs, text) {
    var node = document.createElement(name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text) node.textContent = text;
    return node;
  }

  function languageOf(host) {
    var tagged = host.closest("[lang]");
    var lang = ((tagged && tagged.getAttribute("lang")) || "").slice(0, 2).toLowerCase();
    return TEXTS[lang] ? lang : {{ default_language|tojson }};
  }

  function api(path, options) {
    options = options || {};
    options.credentials = "omit";
    options.mode = "cors";
    return fetch(base + "/api/v1/" + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { status: response.status, body: body };
      });
    });
  }

  function mount(host) {
    if (host.shadowRoot) return;
    var root = host.attachShadow({ mode: "open" });
    var lang = languageOf(host), t = TEXTS[lang], id = "nl" + (++counter);
    var sheet = el("link", { rel: "stylesheet", href: base + "/embed.css" });
    var loaded = new Promise(function (done) { sheet.onload = sheet.onerror = done; });
    var box = el("div", { "class": "nl", lang: lang });
    var live = el("div", { "class": "result", role: "status", "aria-live": "polite" });
    root.appendChild(sheet);
    root.appendChild(box);
    var wording = api("consent-text?lang=" + lang);
    Promise.all([wording, loaded]).then(function (results) {
      var answer = results[0];
      if (answer.status !== 200) throw new Error(answer.status);
      render(box, live, t, lang, id, answer.body);
    }).catch(function () {
      box.appendChild(el("p", { "class": "error" }, t.unavailable));
    });
  }

  function render(box, live, t, lang, id, wording) {
    var form = el("form", { novalidate: "" });
    var input = el("input", {
      id: id + "-email", type: "email", name: "email", autocomplete: "email", required: "",
      maxlength: "254", "aria-describedby": id + "-error"
    });
    var error = el("p", { id: id + "-error", "class": "error" });
    var trap = el("input", { name: "website", tabindex: "-1", autocomplete: "off" });
    var hp = el("label", { "class": "hp", "aria-hidden": "true" }, t.honeypot);
    var statement = el("p", { id: id + "-statement", "class": "statement" });
    var privacy = el("a", { href: PRIVACY, target: "_blank", rel: "noopener" }, t.privacy);
    var button = el("button", { type: "submit", "aria-describedby": id + "-statement" });
    var notice = el("p", { "class": "notice", role: "alert" });
    notice.hidden = true;
    hp.appendChild(trap);
    statement.append(document.createTextNode(wording.text + " "), privacy);
    form.append(el("label", { "for": input.id }, t.label), input, error, hp, notice, statement, button);
    box.append(form, live);

    function show(current) {
      wording = current;
      statement.firstChild.data = current.text + " ";
      button.textContent = current.button;
    }
    function fail(message) {
      error.textContent = message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    show(wording);
    input.addEventListener("input", function () {
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!input.value.trim()) return fail(t.required);
      if (!input.validity.valid) return fail(t.invalid);
      button.disabled = true;
      notice.hidden = true;
      api("subscriptions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          email: input.value.trim(), consent_version: wording.version, language: lang,
          source_url: location.href, website: trap.value, channel: "embed"
        })
      }).then(function (answer) {
        button.disabled = false;
        if (answer.status === 202) return done(box, form, live, t, input.value.trim());
        if (answer.status === 409 && answer.body.consent) {
          show(answer.body.consent);
          notice.textContent = t.stale;
          notice.hidden = false;
          return button.focus();
        }
        if (answer.status === 400 || answer.status === 422) return fail(t.invalid);
        fail(answer.status === 429 ? t.tooMany : t.unavailable);
      }).catch(function () {
        button.disabled = false;
        fail(t.unavailable);
      });
    });
  }

  function done(box, form, live, t, email) {
    form.hidden = true;
    var title = el("p", { "class": "title", tabindex: "-1" }, t.doneTitle);
    live.append(title, el("p", {}, t.doneText), el("p", {}, t.doneHint));
    var provider = PROVIDERS[email.split("@").pop().toLowerCase()];
    if (provider) {
      var link = el("a", { "class": "inbox", href: provider[1], target: "_blank", rel: "noopener noreferrer" },
        t.openInbox.replace("{provider}", provider[0]));
      live.appendChild(link);
    }
    title.focus();
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-newsletter-signup]"), mount);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
