"""The console: the alliance's web application under `/console/` (issue 10).

Server-rendered pages (Jinja2, htmx, ECharts, all served from the package) over the same
`FhirRouter` and `AlliancePolicy` as the FHIR API; docs/console.md tells how to add a page.
"""

from yilian.console.app import add_console

__all__ = ["add_console"]
