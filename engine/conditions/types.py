"""Types from the data schema: which fields a condition or a text may read, checked before anything runs.

The project's data schema (JSON Schema) says what each record holds. From it,
every name a condition or template can reach gets a type: an object with its
fields, a list of items, a union (a field that may be a record or null), or a
value. `TypeCheck` walks a parsed expression or template with the types of the
names in its scope and reports each field that cannot exist, at the line and
column where it is written, with the nearest field that does; and each comparison
that can never work: an order of values that have none (a list and a number), a
field whose schema lists its values against a constant it never holds.

It is sound, not clever: where a type cannot be known (an object whose schema
allows other properties, a value computed by a function, a plugin's filter) it
says nothing. What it checks is listed in docs/flow-language.md ("Types").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes

from ..errors import did_you_mean
from ..plain import frozen


class Type:
    """Anything: what nothing is known of."""

    def describe(self) -> str:
        return "a value"


ANY = Type()


@dataclass(frozen=True, eq=False)
class Value(Type):
    """A string, number, boolean or null, with its allowed values when the schema lists them."""

    kinds: frozenset[str] = frozenset()
    enum: tuple[Any, ...] | None = None

    def describe(self) -> str:
        return " or ".join(sorted(self.kinds)) or "a value"


NULL = Value(frozenset({"null"}))


@dataclass(eq=False)
class Object(Type):
    """A record: its fields, and whether it may hold others (`closed` false: nothing is said of unknown keys)."""

    name: str
    closed: bool
    fields: dict[str, Type] = field(default_factory=dict)

    def describe(self) -> str:
        return self.name


@dataclass(frozen=True, eq=False)
class List(Type):
    """A list whose every item has the type `item`."""

    item: Type = ANY

    def describe(self) -> str:
        return f"a list of {self.item.describe()}"


@dataclass(frozen=True, eq=False)
class Union(Type):
    """A value of any one of `options`."""

    options: tuple[Type, ...] = ()

    def describe(self) -> str:
        return " or ".join(dict.fromkeys(o.describe() for o in self.options))


def union(*types: Type) -> Type:
    """One type for a value of any of `types` (ANY absorbs the rest)."""
    flat: list[Type] = []
    for t in types:
        for option in t.options if isinstance(t, Union) else (t,):
            if option is ANY:
                return ANY
            if not any(option is seen for seen in flat):
                flat.append(option)
    if not flat:
        return ANY
    return flat[0] if len(flat) == 1 else Union(tuple(flat))


def members(t: Type) -> Iterator[Type]:
    yield from t.options if isinstance(t, Union) else (t,)


def item_of(t: Type) -> Type:
    """The type of one item of a list (ANY when `t` may be anything else)."""
    items = []
    for option in members(t):
        if isinstance(option, List):
            items.append(option.item)
        elif option is not NULL:
            return ANY
    return union(*items) if items else ANY


class SchemaTypes:
    """The types of a JSON Schema document's nodes (local `$ref`s followed; each node converted once)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.done: dict[int, Type] = {}

    def of(self, node: Any, name: str = "value") -> Type:
        if not isinstance(node, Mapping):
            return ANY
        key = id(node)
        if key in self.done:
            return self.done[key]
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = self._resolve(ref)
            if target is None or len(node) > 1 + ("description" in node):  # a $ref with siblings: too clever to follow
                return ANY
            self.done[key] = ANY  # a loop of references reads as anything until it is known
            result = self.of(target, ref.rsplit("/", 1)[-1])
            self.done[key] = result
            return result
        self.done[key] = ANY
        result = self._convert(node, name)
        self.done[key] = result
        return result

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return None
        node: Any = self.document
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node

    def _convert(self, node: Mapping[str, Any], name: str) -> Type:
        for word in ("oneOf", "anyOf"):
            if isinstance(node.get(word), list) and set(node) <= {word, "description", "title", "default", "examples"}:
                return union(*(self.of(branch, name) for branch in node[word]))
        if "allOf" in node or "not" in node or "if" in node:
            return ANY
        if "enum" in node and isinstance(node["enum"], list):
            return Value(frozenset(_kind(v) for v in node["enum"]), tuple(node["enum"]))
        if "const" in node:
            return Value(frozenset({_kind(node["const"])}), (node["const"],))
        kinds = node.get("type")
        kinds = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else []
        if "properties" in node or "object" in kinds:
            closed = node.get("additionalProperties") is False and not node.get("patternProperties")
            obj = Object(name, closed)
            properties = node.get("properties")
            if isinstance(properties, Mapping):
                for key, sub in properties.items():
                    obj.fields[str(key)] = self.of(sub, str(key))
            return union(obj, NULL) if "null" in kinds else obj
        if "array" in kinds or "items" in node:
            listed = List(self.of(node.get("items"), name))
            return union(listed, NULL) if "null" in kinds else listed
        if kinds:
            return Value(frozenset(kinds))
        return ANY


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "value"


@frozen
class TypeProblem:
    """A field that cannot exist: at `line` (1-based, in the source) and `col` (1-based; 0 when not found)."""

    line: int
    col: int
    message: str


def missing_field(base: Type, key: str) -> str | None:
    """Why `base` cannot have `key` (None when it may: an open record, a value of unknown shape)."""
    objects = [o for o in members(base) if isinstance(o, Object)]
    if not objects or any(not o.closed for o in objects) or any(o is ANY or isinstance(o, List) for o in members(base)):
        return None
    if any(key in o.fields for o in objects):
        return None
    known = sorted({k for o in objects for k in o.fields})
    hint = did_you_mean(key, known)
    if not hint.startswith("; did you mean"):
        hint = f"; its fields are {', '.join(known)}" if known else "; it has no fields"
    base_name = " or ".join(dict.fromkeys(o.name for o in objects))
    return f"{base_name} has no field {key!r}{hint}"


def unindexable(base: Type, key: Any) -> str | None:
    """Why `base[key]` can never work (None when it may): a number or yes/no is never indexed, a text only by position.

    `key` is the index when it is written as a constant, else None. Python's compiler would only warn of such a part
    of the generated code, and the evaluation fail; here it is an error at its line.
    """
    kinds: set[str] = set()
    for option in members(base):
        if not isinstance(option, Value) or not option.kinds - {"null"} <= _WORDS.keys():
            return None  # a record, a list or a value of unknown shape may be indexed
        kinds |= option.kinds - {"null"}  # none: the data's own gap, said where it is read, not here
    if not kinds:
        return None
    shown = " or ".join(_WORDS[k] for k in sorted(kinds))
    if "string" not in kinds:
        return f"{shown} cannot be indexed: only a list (by position) or a record (by field name) can"
    if isinstance(key, str):
        return f"{shown} has no field {key!r}: a text is indexed only by position, e.g. [0]"
    return None


_WORDS = {"boolean": "a yes/no value", "integer": "a whole number", "number": "a number", "string": "a text"}


ORDERS = {"lt": "<", "lteq": "<=", "gt": ">", "gteq": ">="}
_NUMBERS = frozenset({"number", "integer", "boolean"})  # Python orders true and false as 1 and 0


def _shapes(t: Type) -> set[str] | None:
    """What `t` may be, in the terms of ordering (None: something unknown), leaving out none: a gap said where it is read."""
    shapes: set[str] = set()
    for option in members(t):
        if isinstance(option, List):
            shapes.add("list")
        elif isinstance(option, Object):
            shapes.add("record")
        elif isinstance(option, Value) and option.kinds and option.kinds <= {*_WORDS, "null"}:
            shapes |= option.kinds - {"null"}
        else:
            return None
    return shapes or None


def _orderable(a: str, b: str) -> bool:
    return (a in _NUMBERS and b in _NUMBERS) or (a == b and a in ("string", "list"))


def _shown(t: Type) -> str:
    """A type in the words of a message: 'a list of user', 'a text', 'a record (user)'."""
    words: list[str] = []
    for option in members(t):
        if isinstance(option, List):
            words.append("a list" if option.item is ANY else option.describe())
        elif isinstance(option, Object):
            words.append(f"a record ({option.name})")
        elif isinstance(option, Value):
            words.extend(_WORDS[k] for k in sorted(option.kinds - {"null"}) if k in _WORDS)
    return " or ".join(dict.fromkeys(words))


def unordered(left: Type, right: Type, op: str) -> str | None:
    """Why `left <op> right` (op one of ORDERS) can never work (None when it may): a list against a number, a record, ..."""
    a, b = _shapes(left), _shapes(right)
    if a is None or b is None or any(_orderable(x, y) for x in a for y in b):
        return None
    return f"cannot compare {_shown(left)} with {_shown(right)}: `{ORDERS[op]}` orders two numbers or two texts"


def _order_hint(left: nodes.Node, left_type: Type, right: nodes.Node, right_type: Type, op: str) -> str:
    """How an unordered comparison was likely meant: the length of a list or text, a field of a record."""
    a, b = _shapes(left_type) or set(), _shapes(right_type) or set()
    if "record" in a | b:
        return "; a record has no order: compare one of its fields"
    sized = {"list", "string"}
    if a <= sized and b <= _NUMBERS or a <= _NUMBERS and b <= sized:
        left_text, right_text = written(left), written(right)
        if left_text is None or right_text is None:
            return "; to compare how many items (or characters) it holds, use `| length`"
        if a <= sized:
            left_text += " | length"
        else:
            right_text += " | length"
        return f"; did you mean `{left_text} {ORDERS[op]} {right_text}`?"
    return ""


def written(node: nodes.Node) -> str | None:
    """A name, a field path or a number as it would be written (`actor.roles[0].name`), or None for anything else."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return repr(node.value)
    if isinstance(node, nodes.Getattr):
        base = written(node.node)
        return None if base is None or isinstance(node.node, nodes.Const) else f"{base}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, int | str):
        base = written(node.node)
        return None if base is None or isinstance(node.node, nodes.Const) else f"{base}[{node.arg.value!r}]"
    return None


def _constant_text(lines: list[str], const: nodes.Const) -> str:
    """The constant as it is written on its line (quoted either way), for the column of a problem."""
    if not isinstance(const.value, str):
        return str(const.value).lower() if isinstance(const.value, bool) else repr(const.value)
    line = getattr(const, "lineno", 1) or 1
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    for quote in ("'", '"'):
        if f"{quote}{const.value}{quote}" in text:
            return f"{quote}{const.value}{quote}"
    return const.value


def field_type(base: Type, key: str) -> Type:
    found = [o.fields[key] for o in members(base) if isinstance(o, Object) and key in o.fields]
    if any(isinstance(o, Object) and not o.closed for o in members(base)):
        return ANY
    return union(*found) if found else ANY


_ATTRIBUTE_FILTERS = {  # the argument that names a field of each item: (position, keyword)
    "map": (None, "attribute"),
    "selectattr": (0, None),
    "rejectattr": (0, None),
    "sum": (0, "attribute"),
    "join": (1, "attribute"),
    "sort": (1, "attribute"),
    "min": (None, "attribute"),
    "max": (None, "attribute"),
    "unique": (None, "attribute"),
    "groupby": (0, "attribute"),
}
_FORMATS = {  # the filters that write a value for its reader: the kinds of value they take
    "format_date": (frozenset({"string"}), "a date"),
    "format_datetime": (frozenset({"string"}), "a date and time"),
    "format_number": (frozenset({"number", "integer", "string"}), "a number"),
}
_SAME_LIST = frozenset({"selectattr", "rejectattr", "sort", "list", "unique", "reverse", "batch"})


class TypeCheck:
    """Walks one parsed expression or template; `problems` holds every field that cannot exist.

    `names` types the names of the scope; `entities` the records `lookup(entity, id)`
    may give. `source` is the text parsed, to find the column of each problem.
    """

    def __init__(self, source: str, names: Mapping[str, Type], entities: Mapping[str, Type] | None = None) -> None:
        self.lines = source.split("\n")
        self.names = dict(names)
        self.entities = dict(entities or {})
        self.problems: list[TypeProblem] = []
        self._seen: set[tuple[int, int, str]] = set()

    # reporting ----------------------------------------------------------------
    def _report(self, node: nodes.Node, key: str, message: str) -> None:
        line = getattr(node, "lineno", 1) or 1
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        found = re.search(rf"(?<![\w]){re.escape(key)}(?![\w])", text)
        col = found.start() + 1 if found else 0
        if (line, col, message) not in self._seen:
            self._seen.add((line, col, message))
            self.problems.append(TypeProblem(line, col, message))

    def _field(self, node: nodes.Node, base: Type, key: str) -> Type:
        why = missing_field(base, key)
        if why is not None:
            self._report(node, key, why)
            return ANY
        return field_type(base, key)

    def _path(self, node: nodes.Node, base: Type, path: str) -> Type:
        """A dotted attribute path, as filters take it ('address.city')."""
        for part in path.split("."):
            if part.isdigit():
                base = item_of(base)
                continue
            base = self._field(node, base, part)
        return base

    # walking --------------------------------------------------------------------
    def template(self, tree: nodes.Template) -> list[TypeProblem]:
        self._body(tree.body, dict(self.names))
        return self.problems

    def expression(self, tree: nodes.Node) -> Type:
        return self.type(tree, self.names)

    def _body(self, body: Iterable[nodes.Node], scope: dict[str, Type]) -> None:
        for node in body:
            self._statement(node, scope)

    def _statement(self, node: nodes.Node, scope: dict[str, Type]) -> None:
        if isinstance(node, nodes.For):
            items = self.type(node.iter, scope)
            inner = dict(scope)
            inner["loop"] = ANY
            self._bind(node.target, item_of(items), inner)
            if node.test is not None:
                self.type(node.test, inner)
            self._body(node.body, inner)
            self._body(node.else_, scope)
        elif isinstance(node, nodes.If):
            self.type(node.test, scope)
            self._body(node.body, scope)
            for elif_ in node.elif_:
                self._statement(elif_, scope)
            self._body(node.else_, scope)
        elif isinstance(node, nodes.Assign):
            self._bind(node.target, self.type(node.node, scope), scope)
        elif isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self.type(child, scope)
        elif isinstance(node, nodes.Expr):
            self.type(node, scope)
        else:  # blocks this checker does not model: their names read as anything, their parts are still checked
            inner = dict(scope)
            children: list[nodes.Node] = list(node.iter_child_nodes())
            for part in children:
                if isinstance(part, nodes.Name) and part.ctx == "store":
                    inner[part.name] = ANY
            for part in children:
                self._statement(part, inner)

    def _bind(self, target: nodes.Node, t: Type, scope: dict[str, Type]) -> None:
        if isinstance(target, nodes.Name):
            scope[target.name] = t
        else:
            for name in target.find_all(nodes.Name):
                scope[name.name] = ANY

    def type(self, node: nodes.Node, scope: Mapping[str, Type]) -> Type:  # noqa: C901 - one case per node kind
        if isinstance(node, nodes.Name):
            return scope.get(node.name, ANY)
        if isinstance(node, nodes.Getattr):
            return self._field(node, self.type(node.node, scope), node.attr)
        if isinstance(node, nodes.Getitem):
            base = self.type(node.node, scope)
            arg = node.arg
            why = unindexable(base, arg.value if isinstance(arg, nodes.Const) else None)
            if why is not None:
                self._report(node, str(arg.value) if isinstance(arg, nodes.Const) else "[", why)
                return ANY
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                return self._field(node, base, arg.value)
            self.type(arg, scope)
            if isinstance(arg, nodes.Const) and isinstance(arg.value, int):
                return item_of(base)
            return ANY
        if isinstance(node, nodes.Filter):
            return self._filter(node, scope)
        if isinstance(node, nodes.Call):
            return self._call(node, scope)
        if isinstance(node, nodes.CondExpr):
            self.type(node.test, scope)
            return union(self.type(node.expr1, scope), self.type(node.expr2, scope) if node.expr2 is not None else NULL)
        if isinstance(node, nodes.Const):
            return Value(frozenset({_kind(node.value)}))
        if isinstance(node, nodes.List | nodes.Tuple):
            return List(union(*(self.type(item, scope) for item in node.items)) if node.items else ANY)
        if isinstance(node, nodes.Test):
            self.type(node.node, scope)
            for arg in (*node.args, *(k.value for k in node.kwargs)):
                self.type(arg, scope)
            return Value(frozenset({"boolean"}))
        if isinstance(node, nodes.And | nodes.Or):
            left, right = self.type(node.left, scope), self.type(node.right, scope)
            return union(left, right)
        if isinstance(node, nodes.Compare):
            self._compare(node, scope)
            return Value(frozenset({"boolean"}))
        for child in node.iter_child_nodes():
            self.type(child, scope)
        if isinstance(node, nodes.Not):
            return Value(frozenset({"boolean"}))
        return ANY

    def _compare(self, node: nodes.Compare, scope: Mapping[str, Type]) -> None:
        """Each step of a comparison: an order asked of values that have none, a constant a listed field never holds."""
        left, left_type = node.expr, self.type(node.expr, scope)
        for operand in node.ops:
            right, right_type = operand.expr, self.type(operand.expr, scope)
            if operand.op in ORDERS:
                why = unordered(left_type, right_type, operand.op)
                if why is not None:
                    hint = _order_hint(left, left_type, right, right_type, operand.op)
                    at = [written(side) for side in (left, right) if not isinstance(side, nodes.Const)]  # the data's side, else the first
                    self._report(node, next(filter(None, at), None) or written(left) or ORDERS[operand.op], why + hint)
            elif operand.op in ("eq", "ne"):
                for field_node, field, other in ((left, left_type, right), (right, right_type, left)):
                    if isinstance(other, nodes.Const):
                        self._listed(field_node, field, [other])
            elif operand.op in ("in", "notin") and isinstance(right, nodes.List | nodes.Tuple):
                self._listed(left, left_type, [item for item in right.items if isinstance(item, nodes.Const)])
            left, left_type = right, right_type

    def _listed(self, field_node: nodes.Node, field: Type, constants: list[nodes.Const]) -> None:
        """A field whose schema lists its values (an `enum`) compared with a constant it never holds: as an effect's `to:` is checked."""
        options = [m for m in members(field) if m is not NULL]
        if not options or not all(isinstance(m, Value) and m.enum is not None for m in options):
            return
        for const in constants:
            if const.value is None:  # none: a field the schema does not require may be missing from a record
                continue
            why = value_problem(field, const.value, written(field_node) or "this field")
            if why is not None:
                self._report(const, _constant_text(self.lines, const), why)

    def _filter(self, node: nodes.Filter, scope: Mapping[str, Type]) -> Type:
        base = self.type(node.node, scope) if node.node is not None else ANY
        for arg in (*node.args, *(k.value for k in node.kwargs)):
            self.type(arg, scope)
        name = node.name
        item = item_of(base)
        attribute = self._attribute_argument(node)
        picked: Type = ANY
        if attribute is not None:
            picked = self._path(attribute[1], item, attribute[0])
        if name in _SAME_LIST:
            return base if any(isinstance(m, List) for m in members(base)) else ANY
        if name == "map":
            return List(picked) if attribute is not None else List(ANY)
        if name in ("first", "last"):
            return union(item, NULL)
        if name in ("min", "max"):
            return union(item, NULL)
        if name in ("default", "d"):
            fallback = self.type(node.args[0], scope) if node.args else Value(frozenset({"string"}))
            return union(*(m for m in members(base) if m is not NULL), fallback)
        if name in ("length", "count", "int", "float", "abs", "round", "sum"):
            return Value(frozenset({"number"}))
        if name in ("lower", "upper", "trim", "string", "join"):
            return Value(frozenset({"string"}))
        if name in _FORMATS:
            self._formatted(node, base)
            return Value(frozenset({"string"}))
        return ANY

    def _formatted(self, node: nodes.Filter, base: Type) -> None:
        """A date or number filter given what the data schema says is neither (a list, a record, true or false)."""
        wanted, word = _FORMATS[node.name]
        options = [m for m in members(base) if m is not NULL]
        if not options or any(m is ANY or (isinstance(m, Object) and not m.closed) for m in options):
            return
        if any(isinstance(m, Value) and (not m.kinds or m.kinds & wanted) for m in options):
            return
        self._report(node, node.name, f"{node.name} writes {word}, and it is given {base.describe()}")

    @staticmethod
    def _attribute_argument(node: nodes.Filter) -> tuple[str, nodes.Node] | None:
        """The field name a filter's argument gives, and the node to report at."""
        where = _ATTRIBUTE_FILTERS.get(node.name)
        if where is None:
            return None
        position, keyword = where
        if keyword is not None:
            for kw in node.kwargs:
                if kw.key == keyword and isinstance(kw.value, nodes.Const) and isinstance(kw.value.value, str):
                    return kw.value.value, kw.value
        if position is not None and len(node.args) > position:
            arg = node.args[position]
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                return arg.value, arg
        return None

    def _call(self, node: nodes.Call, scope: Mapping[str, Type]) -> Type:
        for arg in (*node.args, *(k.value for k in node.kwargs)):
            self.type(arg, scope)
        if isinstance(node.node, nodes.Name) and node.node.name in ("lookup", "all") and node.args:
            entity = node.args[0]
            if isinstance(entity, nodes.Const) and isinstance(entity.value, str) and entity.value in self.entities:
                found = self.entities[entity.value]
                return union(found, NULL) if node.node.name == "lookup" else List(found)
            return ANY
        self.type(node.node, scope)
        return ANY


def entity_types(document: Mapping[str, Any], entities: Mapping[str, Any]) -> dict[str, Type]:
    """The type of each entity's records: a collection's items, or the items nested under its key in each holder.

    `entities` maps a name to an object with `collection`, `nested_key` and `nested_in`
    (the project model's `Entity`).
    """
    types = SchemaTypes(document)
    root = types.of(document, "data")
    out: dict[str, Type] = {}
    for name, entity in entities.items():
        if entity.collection:
            found = item_of(field_type(root, entity.collection)) if missing_field(root, entity.collection) is None else ANY
            out[name] = _named(found, name)
    for name, entity in entities.items():
        if not entity.collection and entity.nested_key:
            held = [out.get(h, ANY) for h in entity.nested_in]
            found = union(*(item_of(field_type(h, entity.nested_key)) for h in held)) if held else ANY
            out[name] = _named(found, name)
    return out


def _named(t: Type, name: str) -> Type:
    """Records of an entity are called by the entity's name in messages ('user', not 'partnerUser')."""
    for option in members(t):
        if isinstance(option, Object):
            option.name = name
    return t


def value_problem(t: Type, value: Any, where: str) -> str | None:
    """Why the data schema refuses the constant `value` where `t` is expected, or None when it may hold it."""
    allowed: list[Any] = []
    kinds: set[str] = set()
    for option in members(t):
        if option is ANY:
            return None
        if isinstance(option, Value):
            if option.enum is not None:
                if any(value == v and type(value) is type(v) for v in option.enum):
                    return None
                allowed.extend(option.enum)
            else:
                kinds |= option.kinds
        elif isinstance(option, Object):
            kinds.add("object")
        elif isinstance(option, List):
            kinds.add("array")
    kind = _kind(value)
    if kind in kinds or (kind == "number" and "integer" in kinds and isinstance(value, int)):
        return None
    shown = "none" if value is None else repr(value)
    if allowed:
        listing = ", ".join("none" if v is None else repr(v) for v in allowed)
        hint = did_you_mean(str(value), [str(v) for v in allowed if isinstance(v, str)])
        hint = f"{hint} (one of {listing})" if hint.startswith("; did you mean") else f"; use one of {listing}"
        return f"{shown} is not allowed in {where}{hint}"
    return f"{shown} is not allowed in {where}; the data schema wants {' or '.join(sorted(_TYPE_WORDS.get(k, k) for k in kinds))}"


_TYPE_WORDS = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "none",
    "object": "a record",
    "array": "a list",
}
