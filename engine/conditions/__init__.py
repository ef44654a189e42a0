"""Conditions and templates: compiled once, sandboxed, bounded in time and size.

May import: language and the base modules. Never runtime, scenarios, api or the faces.
"""
