"""The language: YAML with positions, the schemas, the project loader, its checks and the model (plain data).

May import: the top-level base modules (errors, storage, resources, mailaddress). Never conditions (the loader is
given its compilers, engine/language/code.py), runtime, scenarios, api or the faces.
"""
