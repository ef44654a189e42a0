"""The conformance kit for plugin authors: the contracts our own backends pass, to run in yours.

    from clientflow.testing import Backend, StorageContract            # a storage backend
    from clientflow.testing import NotifierContract, NotifierHarness, Received   # a notifier

Subclass a contract in your plugin's tests and give it the one fixture it asks for
(`backend`, or `notifier_harness`); docs/plugins.md walks through both. Importing
this package needs pytest.
"""

from .notifier import NotifierContract, NotifierHarness, Received
from .storage import Backend, StorageContract

__all__ = ["Backend", "NotifierContract", "NotifierHarness", "Received", "StorageContract"]
