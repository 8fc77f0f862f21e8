"""The deal page names each event's desk from a table of its own (the API does not say
which desk a key sits at): that table is the domain's, event type by event type."""

from __future__ import annotations

import re

from domain.desks import DESK_ROLES, POSTERS
from service.api.routes.dashboard import STATIC


def desks_in_the_page() -> dict[str, str]:
    script = (STATIC / "dashboard" / "deal-parts.js").read_text(encoding="utf-8")
    table = script[script.index("const DESKS = {"):script.index("};", script.index("DESKS"))]
    return dict(re.findall(r'(\w+): "([^"]+)"', table))


def test_the_deal_page_names_the_desk_the_domain_gives_each_event_type():
    expected = {event_type: " or ".join(sorted(roles & set(DESK_ROLES)))
                for event_type, roles in POSTERS.items()}
    assert desks_in_the_page() == expected
