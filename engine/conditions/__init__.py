"""Conditions and templates: compiled once, sandboxed, bounded in time and size; a project's program beside its model.

May import: language and the base modules. Never runtime, scenarios, api or the faces.
"""
