"""The desk UI (``shoal desk ui``): a local web application for handlers.

Served on 127.0.0.1 only, to the one browser that opened the link printed
at launch (:mod:`._guard`), over the desk's encrypted store
(:mod:`shoal.desk._vault`), unlocked with the keystore passphrase.
"""

from ._serve import serve

__all__ = ["serve"]
