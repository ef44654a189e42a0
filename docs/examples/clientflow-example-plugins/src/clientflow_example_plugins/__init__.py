"""Example clientflow plugins: `webhook` (a notifier) and `jsonfile` (a storage backend).

Each module is one plugin, named by its entry point in pyproject.toml's `clientflow` group;
clientflow finds and loads them once the package is installed.
"""
