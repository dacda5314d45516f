"""The OAuth part of the contract (DESIGN §6): an access token past its lifetime is refreshed (before
the call, or after the vendor's 401) and the call succeeds with the new token, which is stored on the
connection; no error reaches the engine. Mixed into a vendor's contract class after `SourceContract` or `TargetContract`, whose
`read_once` makes one ordinary vendor read."""

from __future__ import annotations

from connector.models import Connection


class TokenRefreshContract:
    def expire_access_token(self) -> None:
        """Make the connection's access token one the vendor no longer takes (and we know is old)."""
        raise NotImplementedError

    def test_an_expired_access_token_is_refreshed_and_the_call_succeeds(self):
        self.expire_access_token()
        before = Connection.objects.get(pk=self.connection.pk).credentials["access_token"]
        self.read_once(self.connect())
        after = Connection.objects.get(pk=self.connection.pk).credentials["access_token"]
        assert after and after != before, "the call succeeded on a token that should have been refreshed"
