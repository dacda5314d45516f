"""The contract every source and target adapter keeps (DESIGN §5, §11), run against each vendor's sandbox.

`source.SourceContract` and `target.TargetContract` hold the cases; `test_<system>.py` subclasses them
once per adapter and supplies the sandbox: a connected adapter, a way to create objects, to break the
credentials and to make the vendor fail. Cases are parametrized over the adapter's declared types.
"""
