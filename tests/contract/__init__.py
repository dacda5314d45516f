"""The contract every source and target adapter keeps (DESIGN §5, §11), run against each vendor's sandbox.

`source.SourceContract` and `target.TargetContract` hold the cases (`auth.TokenRefreshContract` adds
the OAuth refresh case); `test_<system>.py` subclasses them once per adapter and supplies the sandbox:
an autouse fixture that makes a sandbox account and a connection, and the hooks each base class lists
(a connected adapter, how to create objects, count documents, break the credentials, make the vendor
fail). Cases are parametrized over the adapter's declared types (conftest.py), so a type added to
`source_types`/`target_types` is under contract at once, and fails until its hooks handle it.

A case an adapter is known to break is listed in the class's `known_bugs` ({"test_name[param]":
what goes wrong}) and runs as a strict xfail: fixing the adapter turns it red until the entry goes.
"""
