"""A corpus of cross-site scripting payloads, each of which leaves a trace of its own if it ever
runs or loads anything in the browser.

``@N`` in a payload stands for its number. A payload that executes calls ``__xss(N)`` (the
browser test defines it in an init script and records the call); one that makes the browser
fetch something fetches a URL under ``/__xss/N``, which the test watches for. Either way the
detection is positive and names the payload. A payload that is rendered as markup instead of as
text also fails the test's other check: its literal text must be in the page's text.

Payloads avoid NUL (PostgreSQL refuses it in text) and stay under 100 characters so that they
fit most fields whole; :func:`fit` shortens them for the few short fields.
"""

from __future__ import annotations

MARKER_CALL = "__xss"
MARKER_PATH = "/__xss/"

_TEMPLATES = [
    # script elements, plain and disguised
    "<script>__xss(@N)</script>",
    "<ScRiPt>__xss(@N)</sCrIpT>",
    "<script src=/__xss/@N.js></script>",
    "<scr<script>ipt>__xss(@N)</scr</script>ipt>",
    "<svg><script>__xss(@N)</script></svg>",
    # event handlers
    "<img src=x onerror=__xss(@N)>",
    "<img src=x oNeRrOr=__xss&#40;@N&#41;>",
    "<svg onload=__xss(@N)>",
    "<body onload=__xss(@N)>",
    "<details open ontoggle=__xss(@N)>",
    "<input autofocus onfocus=__xss(@N)>",
    "<video><source onerror=__xss(@N)></video>",
    "<img\nsrc=x\nonerror=__xss(@N)>",
    # URLs: javascript:, data:, markdown-ish links
    '<a href="javascript:__xss(@N)">x</a>',
    '<a href="jav&#x09;ascript:__xss(@N)">x</a>',
    '<iframe src="javascript:parent.__xss(@N)"></iframe>',
    '<a href="data:text/html,<script>__xss(@N)</script>">x</a>',
    "javascript:__xss(@N)",
    "[x](javascript:__xss(@N))",
    "![x](/__xss/@N.png)",
    # breaking out of attributes, elements and comments
    '"><script>__xss(@N)</script>',
    "'><img src=x onerror=__xss(@N)>",
    '" autofocus onfocus="__xss(@N)" x="',
    "' autofocus onfocus='__xss(@N)' x='",
    "</textarea><script>__xss(@N)</script>",
    "</script><script>__xss(@N)</script>",
    "</title><script>__xss(@N)</script>",
    "--><script>__xss(@N)</script><!--",
    "</option></select><img src=x onerror=__xss(@N)>",
    # mutation XSS
    '<noscript><p title="</noscript><img src=x onerror=__xss(@N)>">',
    "<math><mtext><table><mglyph><style><img src=x onerror=__xss(@N)>",
    # template injection (Django, Jinja, Angular-style)
    '{{7*7}}{% now "Y" %}{# @N #}',
    "{{constructor.constructor('__xss(@N)')()}}",
    "${7*7}#{7*7}<%= 7*7 %>@N",
    # htmx attributes
    '<div hx-get="/__xss/@N" hx-trigger="load">h</div>',
    '<div data-hx-get="/__xss/@N" data-hx-trigger="load">h</div>',
    '<img src=x hx-on:htmx:load="__xss(@N)" hx-on::error="__xss(@N)">',
    # loading things: iframe srcdoc, base, meta refresh, styles, objects
    '<iframe srcdoc="<script>parent.__xss(@N)</script>"></iframe>',
    '<base href="/__xss/@N/">',
    '<meta http-equiv="refresh" content="0;url=/__xss/@N">',
    "<link rel=stylesheet href=/__xss/@N.css>",
    '<style>@import "/__xss/@N.css";</style>',
    '<div style="background:url(/__xss/@N.png)">s</div>',
    '<div style="width:expression(__xss(@N))">s</div>',
    '<object data="/__xss/@N"></object><embed src="/__xss/@N">',
    # encoded and look-alike forms: must show exactly as typed
    "&lt;script&gt;__xss(@N)&lt;/script&gt;",
    "%3Cscript%3E__xss(@N)%3C/script%3E",
    "\\u003cscript\\u003e__xss(@N)\\u003c/script\\u003e",
    "＜script＞__xss(@N)＜/script＞",
    "\u202e<img src=x onerror=__xss(@N)>",
]

PAYLOADS: list[str] = [text.replace("@N", str(n)) for n, text in enumerate(_TEMPLATES, 1)]


def tagged(payload: str, tag: str, limit: int | None = None) -> str:
    """The payload followed by ``//tag``, which names the field it was stored in (so the test
    knows which field a text on the page came from) and stays a comment if the payload ever
    ends up in a JavaScript context. Shortened from the payload's end to fit ``limit``."""
    suffix = f"//{tag}"
    if limit is not None and len(payload) + len(suffix) > limit:
        payload = payload[: limit - len(suffix)]
    return payload + suffix


def fit(payload: str, limit: int) -> str:
    """The payload, cut to ``limit`` characters (for fields too short to carry a tag)."""
    return payload[:limit]
