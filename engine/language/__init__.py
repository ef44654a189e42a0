"""The language: YAML with positions, the schemas, the project loader, its checks and the model.

May import: the top-level base modules (errors, storage, resources, mailaddress) and, until the model
is plain data, conditions (issue 14). Never runtime, scenarios, api or the faces.
"""
