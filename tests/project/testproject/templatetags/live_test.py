"""``{% render_count %}``: how many times this process rendered it (per-user renders)."""

import itertools

from django import template

register = template.Library()

_renders = itertools.count(1)


@register.simple_tag
def render_count():
    return next(_renders)
