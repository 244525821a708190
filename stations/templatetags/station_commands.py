"""``{% station_command_buttons as buttons %}``: the command buttons of a station page."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag
def station_command_buttons() -> list[tuple[str, str, bool]]:
    from stations.views_admin_commands import BUTTONS

    return [(name, str(button.label), button.danger) for name, button in BUTTONS.items()]
