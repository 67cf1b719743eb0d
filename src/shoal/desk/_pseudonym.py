"""The name a desk shows for a contact: memorable, derived, never a codename.

The desk never learns codenames, and a contact id (random, opaque) is no
name a person can hold in mind across a hundred threads. From the
compartment and contact ids, which every desk of the compartment shares,
two words of the EFF list and a number are derived, so all desks show
the same name and a handler can say "Quiet Harbor 17" to a colleague.
The name is public knowledge to anyone who knows the ids (the server
does): it hides nothing and is not meant to. There are 6 billion names,
so two contacts of one compartment may share one only at around 100,000
contacts; the id's first characters are shown beside it all the same.
"""

from __future__ import annotations

import hashlib

from .. import crypto


def pseudonym(compartment_id: str, contact_id: str) -> str:
    digest = hashlib.sha256(f"shoal pseudonym\n{compartment_id}\n{contact_id}".encode()).digest()
    words = crypto.wordlist()
    first = int.from_bytes(digest[0:4], "big") % len(words)
    second = int.from_bytes(digest[4:8], "big") % len(words)
    number = int.from_bytes(digest[8:10], "big") % 100
    return f"{words[first].capitalize()} {words[second].capitalize()} {number:02d}"
