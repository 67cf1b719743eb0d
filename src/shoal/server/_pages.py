"""Rendering the contact's pages: Jinja2 templates, autoescaped.

Pages are plain HTML forms that work with JavaScript disabled (Tor
Browser's Safest mode); the Content-Security-Policy (``_headers.py``)
forbids scripts anyway. Autoescaping is on for every template, and
undefined variables are errors, so a typo cannot render as an empty
string that hides a missing warning.
"""

from __future__ import annotations

from typing import Any

import jinja2
from fastapi.responses import HTMLResponse


class Pages:
    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("shoal.server", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self._env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status)
