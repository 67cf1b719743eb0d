"""What the real-browser tests share (a module name no other folder uses).

A served organization (``_served_org``, with a small body limit), the
catalogs (to know a page's words in any language), a
recorder of everything a browser context asks for, and the per-page checks:
screenshot, width, labels, colour contrast and weight.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, Response

from _served_org import Org, serve_demo
from shoal.server._i18n import Catalogs

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
SCREENSHOTS = BUILD / "screenshots"
WEIGHTS_FILE = BUILD / "page-weights.json"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
#: The gzip-compressed HTML and CSS of one page must stay under this.
MAX_PAGE_GZIP = 50 * 1024

_catalogs: Catalogs | None = None


def T(lang: str, msgid: str) -> str:
    """``msgid`` (English, whitespace folded as in the templates) in ``lang``."""
    global _catalogs  # noqa: PLW0603
    if _catalogs is None:
        _catalogs = Catalogs()
    return _catalogs.gettext(lang, " ".join(msgid.split()))


def folded(text: str) -> str:
    return " ".join(text.split())


# --- the organization and its server ------------------------------------------------------


#: The served organization's body limit (bytes): small, so that a test
#: can send a file over it quickly.
MAX_BODY = 8 << 20


def start_org(tmp: Path) -> Org:
    """The demo organization (doors "news" and "field"), served."""
    return serve_demo(tmp, limits={"max_body": MAX_BODY})


# --- what a browser context asks for ------------------------------------------------------


@dataclass
class Document:
    url: str
    status: int
    html: str


@dataclass
class Recorder:
    """Every request, console message and HTML document of one context."""

    origin: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    #: The latest main-frame document of each page (by id), for its weight.
    latest: dict[int, Document] = field(default_factory=dict)

    def attach(self, context: BrowserContext) -> None:
        context.on("request", self._request)
        context.on("console", self._console)
        context.on("response", self._response)

    def _request(self, request: Request) -> None:
        self.requests.append((request.url, request.resource_type))

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append((message.type, message.text))

    def _response(self, response: Response) -> None:
        request = response.request
        if request.resource_type != "document" or 300 <= response.status < 400:
            return
        document = Document(response.url, response.status, response.body().decode("utf-8"))
        self.documents.append(document)
        frame = request.frame
        if frame.parent_frame is None:
            self.latest[id(frame.page)] = document

    def problems(self) -> list[str]:
        """What broke the rules: outside requests, scripts, CSP violations."""
        found = []
        for url, kind in self.requests:
            if not (url == self.origin or url.startswith(self.origin + "/")):
                found.append(f"request outside the origin: {url}")
            if kind == "script":
                found.append(f"request for a script: {url}")
        for document in self.documents:
            if "<script" in document.html.lower():
                found.append(f"<script in {document.url}")
        for kind, text in self.console:
            if "content security policy" in text.lower() or "refused to" in text.lower():
                found.append(f"console {kind}: {text}")
        return found


#: The ``browse`` fixture: ``browse(accept_language)`` -> a new context and its recorder.
Browse = Callable[..., tuple[BrowserContext, Recorder]]


# --- the checks every page passes -------------------------------------------------------

_CONTRAST_JS = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(parseFloat);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = {r: 255, g: 255, b: 255, a: 1};
    for (const layer of layers.reverse()) bg = over(layer, bg);
    return bg;
  };
  const lum = (c) => {
    const ch = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = Array.from(el.childNodes)
      .filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('').trim();
    const field = el.matches('select, input[type=text], input[type=password], textarea');
    const text = own || (field ? el.value || '' : '');
    if (!text || el.matches('option, script, style')) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible' || el.getClientRects().length === 0) continue;
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const bold = parseInt(style.fontWeight, 10) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    const needed = large ? 3 : 4.5;
    out.push({tag: el.tagName.toLowerCase(), text: text.slice(0, 40),
              ratio: Math.round(ratio * 100) / 100, needed, color: style.color,
              background: `rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)})`});
  }
  return out;
}
"""

_LABELS_JS = """
() => {
  const bad = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const label = (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`))
      || el.closest('label');
    let ok = !!label && label.textContent.trim().length > 0;
    if (ok && (el.type === 'radio' || el.type === 'checkbox')) {
      const set = el.closest('fieldset');
      const legend = set && set.querySelector(':scope > legend');
      ok = !!legend && legend.textContent.trim().length > 0;
    }
    if (!ok) bad.push(el.outerHTML.slice(0, 160));
  }
  for (const el of document.querySelectorAll('a, button')) {
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) {
      bad.push(el.outerHTML.slice(0, 160));
    }
  }
  return bad;
}
"""


@dataclass
class Weight:
    raw: int
    gzip: int


@dataclass
class Pages:
    """Checks, screenshots and weighs pages; the weights are written at the end."""

    recorder: Recorder
    weights: dict[str, Weight]
    lang: str
    seen: list[str] = field(default_factory=list)

    def check(self, page: Page, name: str, *, shoot: bool = True) -> None:
        assert page.evaluate("document.documentElement.lang") == self.lang, name
        width = page.viewport_size["width"] if page.viewport_size else 0
        assert width == PHONE["width"], "pages are checked at a phone's width"
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name}: scrolls sideways ({scroll} px at {width} px)"
        unlabelled = page.evaluate(_LABELS_JS)
        assert unlabelled == [], f"{name}: controls without a label or name: {unlabelled}"
        low = [t for t in page.evaluate(_CONTRAST_JS) if t["ratio"] < t["needed"]]
        assert low == [], f"{name}: text below the WCAG AA contrast: {low}"
        self._weigh(page, name)
        if shoot:
            self.shoot(page, name)
        self.seen.append(name)

    def shoot(self, page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{self.lang}-{name}.png", full_page=True)

    def _weigh(self, page: Page, name: str) -> None:
        document = self.recorder.latest[id(page)]
        assert document.url == page.url, (document.url, page.url)
        parts = [document.html.encode("utf-8")]
        for href in page.eval_on_selector_all(
            "link[rel=stylesheet]", "links => links.map(l => l.href)"
        ):
            answer = page.context.request.get(href)
            assert answer.ok, href
            parts.append(answer.body())
        raw = sum(len(p) for p in parts)
        packed = sum(len(gzip.compress(p)) for p in parts)
        assert packed < MAX_PAGE_GZIP, f"{name}: {packed} bytes gzipped"
        self.weights[f"{self.lang}-{name}"] = Weight(raw, packed)


def report_weights(weights: dict[str, Weight]) -> None:
    if not weights:
        return
    print("\npage weights (HTML + linked CSS):")
    print(f"{'page':<28}{'raw bytes':>12}{'gzip bytes':>12}")
    for name, weight in sorted(weights.items()):
        print(f"{name:<28}{weight.raw:>12}{weight.gzip:>12}")
    BUILD.mkdir(exist_ok=True)
    data = {name: {"raw": w.raw, "gzip": w.gzip} for name, w in sorted(weights.items())}
    WEIGHTS_FILE.write_text(json.dumps(data, indent=2) + "\n", "utf-8")


def tabs_to(page: Page, selector: str, limit: int = 20) -> int:
    """Press Tab from the top of a fresh page until ``selector`` has the focus."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"{selector} has the focus but shows no outline"
            return presses
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


def png(width: int = 8, height: int = 8) -> bytes:
    """A small valid PNG (solid colour), without an image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xc0\x30\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def text_of(page: Page, selector: str) -> str:
    return folded(page.locator(selector).inner_text())


def all_text(page: Page) -> str:
    return folded(page.locator("body").inner_text())
