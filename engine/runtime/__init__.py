"""What runs do: scope, records, screens, outcome, plans, the rulebook, the runner, bulk runs.

May import: conditions, language and the base modules (config, plugins, outbox, storage). Never api or the faces.
"""
