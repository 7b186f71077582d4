"""The web layer: what the hub serves over HTTP. Its `assets/` (the widget, the console, the
dashboard and admin pages, their templates) ship inside the package, so an installed wheel
serves exactly what a checkout does."""
