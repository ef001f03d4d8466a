"""Every route of ours declares its policy action, so the authorization matrix can cover it."""

from __future__ import annotations

from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver


def our_views(patterns: list[object], prefix: str = "") -> Iterator[tuple[str, object]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from our_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and entry.callback.__module__.startswith("saebom."):
            yield prefix + str(entry.pattern), entry.callback


def test_every_saebom_view_declares_its_action() -> None:
    views = list(our_views(get_resolver().url_patterns))
    assert len(views) >= 7
    undeclared = [route for route, view in views if not hasattr(view, "saebom_action")]
    assert undeclared == []
