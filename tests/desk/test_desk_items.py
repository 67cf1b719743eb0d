"""Names an export gives to untrusted file names (shoal.desk._items)."""

from __future__ import annotations

import pytest

from shoal.desk._items import MAX_NAME, safe_file_name


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../evil", "evil"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("..", "file"),
        (".bashrc", "bashrc"),
        ("", "file"),
        (None, "file"),
        (42, "file"),
        ("photo\u202egpj.exe", "photogpj.exe"),  # a right-to-left override, removed
        ("a\x00b\nc\x1b.txt", "abc.txt"),
        ('what?<is>:this|"*', "what__is__this___"),
        ("фото з мосту.jpg", "фото з мосту.jpg"),
    ],
)
def test_safe_file_name(given: object, expected: str) -> None:
    assert safe_file_name(given) == expected


def test_long_names_are_cut_keeping_the_suffix() -> None:
    name = safe_file_name("x" * 500 + ".jpeg")
    assert len(name) == MAX_NAME
    assert name.endswith(".jpeg")
