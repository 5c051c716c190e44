"""Outgoing HTTP requests that go only where they were sent.

A redirect could take a request (and the key it carries) to another host,
or a callback to an address its URL check refused; an opener from
:func:`no_redirect_opener` answers a redirect as an HTTP error instead of
following it. Used by the remote engine and the service's webhooks.
"""

from __future__ import annotations

import urllib.request


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


def no_redirect_opener() -> urllib.request.OpenerDirector:
    """A urllib opener that never follows a redirect (a 3xx raises ``HTTPError``)."""
    return urllib.request.build_opener(_NoRedirects)
