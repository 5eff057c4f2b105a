"""Text typed into the console, made safe to store and to put in an XLSX (XML) file or a WeChat reply.

XML 1.0 forbids most C0 control characters, lone surrogates and U+FFFE/U+FFFF: one of them pasted into a
review note made every later XLSX export fail. They carry no meaning in a note, so they are dropped.
"""

from __future__ import annotations

import re

XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def strip_xml_illegal(text: str) -> str:
    """`text` without the characters XML 1.0 cannot hold (tab, newline and carriage return stay)."""
    return XML_ILLEGAL.sub("", text)
