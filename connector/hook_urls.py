"""The URLconf of webhook requests (connector.wsgi): the integrations' URLs only.

The webhooks sit at the end of the root URLconf (after the admin, allauth, the pages and the API),
so resolving a delivery there tries every other pattern first; under a burst that walk was a
noticeable share of a web worker's time per delivery. Same patterns, same views, same names.
"""

from connector.urls import _integration_urls

urlpatterns = _integration_urls()
