"""Where the web assets live: inside the package, next to this module, in a checkout and in an
installed wheel alike (`pyproject.toml` lists `assets/**` as package data).

- `WIDGET_DIR` — the embeddable widget: `loader.js` (served as `/widget.js`), `frame.html`,
  `app/`, `locales/`, and the demo shop page `demo/`.
- `STATIC_DIR` — the staff pages' scripts and styles (`console/`, `dashboard/`, `admin/`,
  `staff/`) and `vendor/` (Chart.js), served under `/console/static/`.
- `TEMPLATES_DIR` — the staff pages' Jinja2 templates.
"""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
WIDGET_DIR = ASSETS_DIR / "widget"
STATIC_DIR = ASSETS_DIR / "static"
TEMPLATES_DIR = ASSETS_DIR / "templates"

__all__ = ["ASSETS_DIR", "STATIC_DIR", "TEMPLATES_DIR", "WIDGET_DIR"]
