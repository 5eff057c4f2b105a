"""Composing what the villager reads: articles, excerpts, tips, contacts and fixed replies.

Pure text: no HTTP and no database code here."""
