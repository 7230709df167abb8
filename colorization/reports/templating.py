"""``report.html`` from the Jinja2 templates shipped beside this module (``templates/``): autoescape on, so every
value the view model hands in is escaped; the style sheet and the script (``report.css``, ``report.js``) are files
there too, inlined into the page so it opens offline as one file."""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

__all__ = ["render"]


@functools.cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("colorization.reports", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)

    def asset(name: str) -> Markup:
        """A style sheet or script of ``templates/``, as written (trusted: it ships with the package)."""
        source, _, _ = env.loader.get_source(env, name)
        return Markup(source.rstrip("\n"))

    env.globals["asset"] = asset
    return env


def render(template: str, **context: Any) -> str:
    """The page ``template`` (``sweep.html.j2``, ``run.html.j2``) filled with ``context``."""
    return _environment().get_template(template).render(**context)
