"""Shoal: a confidential contact and reporting system.

The packages are trust zones (see DESIGN.md): ``crypto`` is shared by every
zone and imports nothing from the web stack.
"""

__version__ = "0.1.0"
