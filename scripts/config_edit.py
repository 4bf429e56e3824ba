"""Edits one key of the shipped config/incidentd.toml as text, so that a test or the demo runs on
the file users get (its comments and defaults), changed only where it must be.

Shared by scripts/demo.py, tests/integration/*.py and tests/chaos/chaos.py.
"""

import re


def set_setting(text, section, key, value):
    """Returns `text` with `key = value` in [section]: the key's line (or its commented-out
    example, "# key = ...") is replaced. Raises ValueError when the section has no such line, so a
    renamed key fails the caller loudly instead of leaving the default in force."""
    marker = f"\n[{section}]\n"
    head = text.find(marker)
    if head < 0:
        raise ValueError(f"config/incidentd.toml has no [{section}]")
    nxt = re.compile(r"^\[", re.MULTILINE).search(text, head + len(marker))
    stop = nxt.start() if nxt else len(text)
    body, n = re.subn(rf"^#? ?{re.escape(key)} = .*$", f"{key} = {value}", text[head:stop],
                      count=1, flags=re.MULTILINE)
    if n != 1:
        raise ValueError(f"config/incidentd.toml has no {key} in [{section}]")
    return text[:head] + body + text[stop:]
