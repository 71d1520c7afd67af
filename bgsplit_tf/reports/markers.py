"""Marked spans in a Markdown page: `<!-- gen:NAME -->content<!-- /gen -->`, rendered invisibly by
Markdown viewers. A span's content is replaced by a value computed elsewhere; the prose around it is
left as written."""

from __future__ import annotations

import re

from bgsplit_tf import faults

SPAN = re.compile(r"(<!-- gen:(?P<name>[\w.-]+) -->)(?P<content>.*?)(<!-- /gen -->)", re.S)


class PageFault(faults.Fault):
    """A page's marked spans and its values do not match (a name without a value, or unclosed markers)."""


def span_names(page: str) -> list[str]:
    """The names of a page's marked spans, in order."""
    return [match.group("name") for match in SPAN.finditer(page)]


def fill(page: str, values: dict[str, str], page_name: str) -> str:
    """page with every marked span's content replaced by values[name]. A value that starts with a
    newline is a block (a table, a list): its markers stay on lines of their own."""
    missing = sorted(set(span_names(page)) - set(values))
    if missing:
        raise PageFault(f"{page_name}: marked spans with no value: {', '.join(missing)} (the page's values "
                        "function in bgsplit_tf/reports/ computes the names it knows)")
    opened, closed = page.count("<!-- gen:"), page.count("<!-- /gen -->")
    if opened != closed:
        raise PageFault(f"{page_name}: {opened} spans opened and {closed} closed: close each with <!-- /gen -->")
    return SPAN.sub(lambda m: m.group(1) + values[m.group("name")] + m.group(4), page)


def outside_spans(page: str) -> str:
    """The page's text with every marked span's content removed: what was written by hand."""
    return SPAN.sub("", page)
