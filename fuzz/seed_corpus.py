"""Write the seed corpora of ``fuzz/corpus/`` from real inputs.

``python fuzz/seed_corpus.py`` (from the repository) rewrites each
``fuzz/corpus/<harness>/`` from: the C2SP age test kit's files (headers
stripped), its armored ones, multipart bodies as httpx writes them, signed
notes and checkpoints made with the harnesses' fixed keys, the example
questionnaire and contact forms. File names are the content's SHA-1, as
libFuzzer names what it finds.
"""

from __future__ import annotations

import hashlib
import shutil
from importlib.resources import files
from pathlib import Path

import checkpoint
import httpx
import signed_note

from _harness import seeds
from shoal import crypto
from shoal.org import _tlog

TESTKIT = Path(__file__).resolve().parent.parent / "tests" / "crypto" / "testkit"


def testkit_files() -> list[tuple[str, bytes]]:
    """(armored, file) for each vector: what follows its header's blank line."""
    found = []
    for path in sorted(TESTKIT.iterdir()):
        raw = path.read_bytes()
        head, sep, body = raw.partition(b"\n\n")
        if sep:
            found.append(("armored: yes" in head.decode("ascii", "replace"), body))
    return found


def multipart_bodies() -> list[bytes]:
    requests = [
        {"data": {"message": "the bridge at dawn"}},
        {
            "data": {"message": "two files"},
            "files": [
                ("files", ("photo.jpg", b"\xff\xd8" + bytes(300), "image/jpeg")),
                ("files", ("notes.txt", "ünïcode".encode(), "text/plain")),
            ],
        },
        {"files": {"message": (None, "no file name")}},
        {"files": [("files", ("", b"", "application/octet-stream"))]},
    ]
    bodies = []
    for fields in requests:
        request = httpx.Request("POST", "http://127.0.0.1/", **fields)  # type: ignore[arg-type]
        content_type = request.headers["content-type"].encode()
        bodies.append(content_type + b"\n" + request.read())
    return bodies


def notes() -> list[bytes]:
    spec_example = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
        "\n"
        "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
        "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )
    signer = signed_note.SIGNER
    other = crypto.NoteSigner("other", crypto.SigningKey(bytes(32)))
    made = [
        crypto.sign_note("hello\n", [signer]),
        crypto.sign_note("two\n\nparagraphs\n", [other, signer]),
        str(signer.verifier),
        spec_example,
    ]
    return [note.encode() for note in made]


def checkpoints() -> list[bytes]:
    made = []
    state = _tlog.LogState()
    for size in range(6):
        body = state.checkpoint(checkpoint.ORIGIN)
        made += [body.body(), _tlog.sign_checkpoint(body, checkpoint.SIGNER)]
        state, _ = state.append(_tlog.leaf_hash(bytes([size])))
    made.append(_tlog.Checkpoint(checkpoint.ORIGIN, 1, bytes(32), ("ext line",)).body())
    return [text.encode() for text in made]


def questionnaire_inputs() -> list[bytes]:
    example = files("shoal.server").joinpath("questionnaire_example.toml").read_bytes()
    forms = [
        "skills=first_aid&skills=driving&region=kyiv&availability=weekends&reach=weekly",
        "anything_else=I+can+help&form_token=x&once=y",
        "note=hello&many=a&many=b",
        "note=%00&many=a&many=a&many=z",
        "unknown=1",
        "",
    ]
    # The first byte picks the mode (odd: a questionnaire file) and, for a
    # form, the questionnaire and the language (fuzz/questionnaire.py).
    return [b"\x01" + example] + [
        bytes([mode]) + form.encode() for form in forms for mode in (0, 6)
    ]


def write(name: str, inputs: list[bytes]) -> None:
    directory = seeds(name)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for data in inputs:
        (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)  # noqa: S324 (a name)
    print(f"{name}: {len(inputs)} seeds")


def main() -> None:
    kit = testkit_files()
    write("age_header", [body for _, body in kit])
    # The armor harness's first byte is where it cuts the input in two.
    write("armor", [bytes([cut]) + body for armored, body in kit if armored for cut in (0, 77)])
    write("multipart", multipart_bodies())
    write("signed_note", notes())
    write("checkpoint", checkpoints())
    write("questionnaire", questionnaire_inputs())


if __name__ == "__main__":
    main()
