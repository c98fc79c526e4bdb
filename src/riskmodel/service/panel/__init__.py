"""The IOM panel's workspace: pages under ``/panel/`` served by the same service.

:mod:`~riskmodel.service.panel.views` gathers what the pages show (the month's list, a
person's scores and history, the transparency record); :mod:`~riskmodel.service.panel.pages`
maps HTTP onto them, with sessions, CSRF tokens and security headers. The templates are
``riskmodel/templates/panel/``.
"""

from riskmodel.service.panel.pages import COOKIE, SECURITY_HEADERS, PanelSettings, bind, router

__all__ = ["router", "bind", "PanelSettings", "SECURITY_HEADERS", "COOKIE"]
