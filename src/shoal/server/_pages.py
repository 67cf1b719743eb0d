"""Rendering the contact's pages: Jinja2 templates, autoescaped, translated.

Pages are plain HTML forms that work with JavaScript disabled (Tor
Browser's Safest mode); the Content-Security-Policy (``_headers.py``)
forbids scripts anyway. Autoescaping is on for every template, and
undefined variables are errors, so a typo cannot render as an empty
string that hides a missing warning.

One Jinja environment per language, each with its catalog installed
(``_i18n.py``): gettext in Jinja is installed per environment, and
requests in different languages run at once. Every page gets a
:class:`View`: its language, its door, and the links that keep both.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from fastapi.responses import HTMLResponse

from ._i18n import LANGUAGES, Catalogs, Language


@dataclass(frozen=True)
class View:
    """What every template needs besides its own content."""

    language: Language
    door: str | None
    #: The path the language switcher links to (a page one can GET).
    path: str
    form_token: str = ""
    #: The door takes offers of services (a link in the menu).
    services: bool = False

    @property
    def lang(self) -> str:
        return self.language.code

    @property
    def languages(self) -> list[tuple[str, str]]:
        return list(LANGUAGES.items())

    def link(self, page: str, **params: str) -> str:
        """``/d/<door>/<page>``, carrying a chosen language along."""
        query = {k: v for k, v in params.items() if v}
        if self.language.explicit:
            query["lang"] = self.lang
        url = f"/d/{self.door}/{page}"
        return f"{url}?{urllib.parse.urlencode(query)}" if query else url

    def switch(self, code: str) -> str:
        return f"{self.path}?{urllib.parse.urlencode({'lang': code})}"


class Pages:
    def __init__(self, catalogs: Catalogs) -> None:
        self.catalogs = catalogs
        loader = jinja2.PackageLoader("shoal.server", "templates")
        self._envs: Mapping[str, jinja2.Environment] = {
            code: self._environment(loader, catalogs, code) for code in LANGUAGES
        }

    @staticmethod
    def _environment(
        loader: jinja2.BaseLoader, catalogs: Catalogs, code: str
    ) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=loader,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
        )
        # Whitespace in {% trans %} blocks is folded, so msgids do not depend
        # on how a template is indented (babel.cfg extracts them the same way).
        env.policies["ext.i18n.trimmed"] = True
        env.install_gettext_translations(  # type: ignore[attr-defined]
            catalogs.translations(code), newstyle=True
        )
        return env

    def render(self, template: str, view: View, status: int = 200, **context: Any) -> HTMLResponse:
        html = self._envs[view.lang].get_template(template).render(view=view, **context)
        return HTMLResponse(html, status_code=status)
