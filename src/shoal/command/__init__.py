"""Command's machine (``shoal command``): the root and command keys,
compartments, handlers and signed epochs. Trusted zone, usually offline.
"""
