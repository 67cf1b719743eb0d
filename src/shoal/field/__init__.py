"""The member's field client (placeholder; see the package docstring to come)."""
