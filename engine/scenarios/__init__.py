"""Scenarios: product managers' statements of what a flow must do, their patches, expectations,
paths and coverage, and the demo runs.

May import: api and everything below it. Never the faces.
"""
