"""Driving the contact's pages as a browser without JavaScript would: read
each form out of the page, post it back. Works with httpx.Client and with
Starlette's TestClient (the same interface)."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx


def hidden(page: str, name: str) -> str:
    """The value of the first hidden input ``name`` in ``page``."""
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)
    assert match, f"no hidden {name!r} in the page"
    return html.unescape(match.group(1))


def codename_from(page: str) -> str:
    match = re.search(r'<p class="codename" id="codename">([a-z -]+)</p>', page)
    assert match, page
    return match.group(1)


def form_token(client: Any, path: str) -> str:
    """The token a page renders into its forms (and sets, if new, as a cookie)."""
    page = client.get(path, follow_redirects=False)
    assert page.status_code == 200, page.text
    token = hidden(page.text, "form_token")
    assert client.cookies["shoal_form"] == token
    return token


def first_contact(client: Any, door: str = "north", **extra: str) -> httpx.Response:
    """Press "get a codename" on the landing page; the codename page."""
    landing = client.get(f"/d/{door}/")
    assert landing.status_code == 200, landing.text
    form = {"form_token": hidden(landing.text, "form_token"), "once": hidden(landing.text, "once")}
    return client.post(f"/d/{door}/first-contact", data={**form, **extra}, follow_redirects=False)


def practice(client: Any, codename: str, door: str = "north") -> httpx.Response:
    token = form_token(client, f"/d/{door}/practice")
    return client.post(
        f"/d/{door}/practice",
        data={"form_token": token, "codename": codename},
        follow_redirects=False,
    )


def new_contact(client: Any, door: str = "north") -> str:
    """A new contact who has typed the codename back: ready to write."""
    page = first_contact(client, door)
    assert page.status_code == 200, page.text
    codename = codename_from(page.text)
    assert practice(client, codename, door).status_code == 303
    return codename


def login(client: Any, codename: str, door: str = "north") -> httpx.Response:
    token = form_token(client, f"/d/{door}/login")
    return client.post(
        f"/d/{door}/login",
        data={"codename": codename, "form_token": token},
        follow_redirects=False,
    )


def submit_action(client: Any, door: str = "north") -> str:
    """The submit form's action: its token and once ride in the query string."""
    page = client.get(f"/d/{door}/submit", follow_redirects=False)
    assert page.status_code == 200, page.text
    match = re.search(r'<form method="post" action="([^"]+)"\s+enctype="multipart', page.text)
    assert match, page.text
    return html.unescape(match.group(1))
