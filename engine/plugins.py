"""The plugin manager: built-ins, entry points, and what they registered.

Every plugin has one name, the one `clientflow plugins` prints: a built-in's
module name (`sqlite`, `outbox_files`), a third-party plugin's entry-point name
in the `clientflow` group. `CLIENTFLOW_LOAD_PLUGINS=a,b` loads only those (and
`memory`, which the engine needs); `CLIENTFLOW_DISABLE_PLUGINS=a,b` loads all but
those; an unknown name in either is an error with a did-you-mean.
`CLIENTFLOW_TRACE_PLUGINS=1` prints every hook call to stderr. A third-party
plugin that fails to load is skipped and named (with its entry point,
distribution and version) on stderr, so one broken plugin breaks only what
needs it. `load_plugins()` is idempotent.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import field
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .errors import ClientflowError, ConfigError, did_you_mean
from .plain import frozen, mutable

DEFAULT_PLUGINS = (
    "clientflow.default_plugins.memory:MemoryPlugin",
    "clientflow.default_plugins.sqlite:SQLitePlugin",
    "clientflow.default_plugins.console:ConsolePlugin",
    "clientflow.default_plugins.outbox_files:OutboxFilesPlugin",
    "clientflow.default_plugins.postgres:PostgresPlugin",
    "clientflow.default_plugins.smtp:SMTPPlugin",
    "clientflow.default_plugins.tokens:TokenPlugin",
    "clientflow.default_plugins.moments:MomentsPlugin",
)
REQUIRED = {"memory"}
SKIPPED: dict[str, str] = {}  # built-in plugin -> the missing module that kept it from loading


@frozen
class PluginInfo:
    """Where a plugin comes from, for `clientflow plugins` and for every message that names it."""

    name: str
    module: str
    distribution: str
    version: str
    entry_point: str | None = None  # "name = value" in the clientflow group; None for a built-in

    def describe(self) -> str:
        origin = f"entry point {self.entry_point!r} of " if self.entry_point else "built into "
        return f"the plugin {self.name!r} ({origin}{self.distribution} {self.version})"


@mutable
class Loaded:
    """What loading found: each plugin's origin, and the plugins that could not be loaded and why."""

    info: dict[str, PluginInfo] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # plugin name -> why it was not loaded


_LOADED: weakref.WeakKeyDictionary[pluggy.PluginManager, Loaded] = weakref.WeakKeyDictionary()
_warned: set[str] = set()
_pm: pluggy.PluginManager | None = None


def _plugin_name(spec: str) -> str:
    return spec.split(":")[0].rsplit(".", 1)[-1]


def _own_version(installed: tuple[set[str], str | None] | None = None) -> str:
    """clientflow's version, as importlib.metadata gives it (`installed`: what `_installed` found, when it was asked)."""
    if installed is not None and installed[1] is not None:
        return installed[1]
    from importlib.metadata import PackageNotFoundError, version  # ~20 ms to import: only when the files _installed read did not say

    try:
        return version("clientflow")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
        return "unknown"


def _entry_points(group: str, installed: tuple[set[str], str | None] | None = None) -> list[Any]:
    """The entry points of `group`, as importlib.metadata gives them (none when `installed` says no distribution declares it)."""
    if installed is not None and group not in installed[0]:
        return []
    from importlib.metadata import entry_points  # ~20 ms to import: only when a distribution declares the group, or _installed cannot tell

    return list(entry_points(group=group))


def _installed() -> tuple[set[str], str | None] | None:
    """What the distributions on sys.path declare, read as importlib.metadata reads them: every entry-point group
    some distribution declares, and the Version of the first one named clientflow (None: ask importlib.metadata).

    None when a distribution could be found another way than importlib.metadata's look into each sys.path
    folder (another finder, an egg, a zip, a file it cannot read): then only importlib.metadata can say.
    """
    if any(finder is not PathFinder and hasattr(finder, "find_distributions") for finder in sys.meta_path):
        return None
    groups: set[str] = set()
    version: str | None = None
    named = False  # the first distribution named clientflow has been seen (importlib.metadata takes that one)
    for entry in sys.path:
        if not isinstance(entry, str) or os.path.basename(entry).lower().endswith(".egg"):
            return None
        folder = entry or "."
        try:
            children = os.listdir(folder)
        except NotADirectoryError:  # a zip file: importlib.metadata reads inside it
            return None
        except OSError:
            continue  # not there: nothing to find
        for child in children:
            low = child.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            text = _read(os.path.join(folder, child, "entry_points.txt"))
            if text is None:
                return None
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("[") and line.endswith("]"):
                    groups.add(line.strip("[]"))
            if not named and low.rpartition(".")[0].partition("-")[0] == "clientflow":
                named = True
                version = _version_of(os.path.join(folder, child))
    return groups, version


def _read(path: str) -> str | None:
    """A metadata file's text ("" when there is none), or None when it cannot be read as importlib.metadata would."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return ""
    except (OSError, ValueError):
        return None


def _version_of(folder: str) -> str | None:
    """The Version header of a distribution's METADATA (or PKG-INFO), or None when it is not plainly written there."""
    text = _read(os.path.join(folder, "METADATA"))
    if text == "":
        text = _read(os.path.join(folder, "PKG-INFO"))
    for line in (text or "").splitlines():
        if not line:
            return None  # the end of the headers
        name, colon, value = line.partition(":")
        if not colon or line[0] in " \t":
            return None
        if name.lower() == "version":
            return value.lstrip(" \t") or None
    return None


class _Manager(pluggy.PluginManager):
    """pluggy's manager, which does not inspect a plugin's dunder attributes (most of what `dir` lists: each looked up
    statically, a few milliseconds of every start); a hook implementation is never named __x__."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            return None
        return super().parse_hookimpl_opts(plugin, name)


def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, with every plugin loaded."""
    global _pm
    if _pm is None:
        _pm = load_plugins(_Manager(hookspecs.PROJECT))
    return _pm


def loaded(pm: pluggy.PluginManager) -> Loaded:
    """What loading `pm` found (empty for a manager that `load_plugins` did not load)."""
    return _LOADED.get(pm) or Loaded()


def _names(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    return None if value is None else {n.strip() for n in value.split(",") if n.strip()}


def load_plugins(pm: pluggy.PluginManager) -> pluggy.PluginManager:
    """Register the hook specs, the built-ins and the `clientflow` entry points."""
    if pm in _LOADED:
        return pm
    known = getattr(pm.hook, "clientflow_register_storage", None)
    if known is None or known.spec is None:  # a manager given with the specs already added keeps them
        pm.add_hookspecs(hookspecs)
    state = Loaded()
    builtins = {_plugin_name(spec): spec for spec in DEFAULT_PLUGINS}
    # importlib.metadata takes longer to import than the rest of this: while nothing has imported it, the
    # installed distributions' files say first whether any declares our group at all (usually none does)
    installed = _installed() if "importlib.metadata" not in sys.modules else None
    points = _entry_points(hookspecs.PROJECT, installed)
    everyone = set(builtins) | {ep.name for ep in points}
    only, disabled = _names("CLIENTFLOW_LOAD_PLUGINS"), _names("CLIENTFLOW_DISABLE_PLUGINS") or set()
    for variable, names in (("CLIENTFLOW_LOAD_PLUGINS", only or set()), ("CLIENTFLOW_DISABLE_PLUGINS", disabled)):
        for name in sorted(names - everyone):
            raise ConfigError(f"{variable} names no plugin {name!r}{did_you_mean(name, everyone)}; the plugins are: {', '.join(sorted(everyone))}")

    def wanted(name: str) -> bool:
        return name in REQUIRED or ((only is None or name in only) and name not in disabled)

    version = _own_version(installed)
    for name, spec in builtins.items():
        if not wanted(name):
            continue
        module_name, _, class_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.partition(".")[0] == __package__:
                raise  # our own module missing: a broken install, never to be skipped in silence
            SKIPPED[name] = exc.name  # a built-in whose optional dependency (e.g. psycopg) is not installed
            continue
        pm.register(getattr(module, class_name)(), name=name)
        state.info[name] = PluginInfo(name, module_name, "clientflow", version)
    for ep in points:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(ep.name, ep.value.partition(":")[0], dist.name if dist else "unknown", dist.version if dist else "unknown", f"{ep.name} = {ep.value}")
        if ep.name in builtins:
            state.broken[ep.name] = f"{info.describe()} has the name of a built-in plugin; rename the entry point"
            continue
        if not wanted(ep.name):
            continue
        try:
            plugin = ep.load()
            if inspect.isclass(plugin):  # an entry point may name a class as well as a module
                plugin = plugin()
            pm.register(plugin, name=ep.name)
            pm.check_pending()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is named and skipped; what needs it fails with its name
            if pm.get_plugin(ep.name) is not None:
                pm.unregister(name=ep.name)
            state.broken[ep.name] = f"{info.describe()} could not be loaded: {type(exc).__name__}: {exc}"
            continue
        state.info[ep.name] = info
    pm.check_pending()
    if os.environ.get("CLIENTFLOW_TRACE_PLUGINS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    _LOADED[pm] = state
    for name, why in sorted(state.broken.items()):
        if name not in _warned:  # once per process, however many managers load it
            _warned.add(name)
            print(f"clientflow: warning: {why}; skipped (CLIENTFLOW_DISABLE_PLUGINS={name} turns it off)", file=sys.stderr)
    return pm


@mutable
class Registry:
    """Everything plugins registered, by kind and name."""

    storages: dict[str, Callable[..., Any]] = field(default_factory=dict)
    notifiers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    effects: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    filters: dict[str, Callable[..., Any]] = field(default_factory=dict)
    pm: pluggy.PluginManager | None = None  # where run events go; None: the process's manager
    broken: dict[str, str] = field(default_factory=dict)  # plugins that could not be loaded, and why
    schemas: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (kind, name) -> JSON Schema of its settings
    origin: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> the plugin that registered it, described

    @classmethod
    def collect(cls, pm: pluggy.PluginManager | None = None) -> Registry:
        """Ask every plugin of `pm` (default: the process's manager) what it registers."""
        pm = pm or plugin_manager()
        registry = cls(pm=pm)

        origin = loaded(pm).info
        owners: dict[tuple[str, str], str] = {}  # (kind, name) -> the plugin that registered it

        def who(plugin: str) -> str:
            return origin[plugin].describe() if plugin in origin else f"the plugin {plugin!r}"

        def call(hook: Any, make: Callable[[str], Callable[..., None]]) -> None:
            for impl in reversed(hook.get_hookimpls()):  # one plugin at a time, in pluggy's calling order, so each is named
                try:
                    impl.function(register=make(impl.plugin_name))
                except ConfigError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a plugin's own failure, named
                    raise ConfigError(f"{who(impl.plugin_name)} failed in {hook.name}: {type(exc).__name__}: {exc}") from exc

        def adder(table: dict[str, Any], kind: str, plugin: str) -> Callable[..., None]:
            def register(name: str, value: Any, *, settings: Mapping[str, Any] | None = None) -> None:
                if name in table:
                    first = owners[(kind, name)]
                    raise ConfigError(
                        f"two plugins register the {kind} {name!r}: {who(first)} and {who(plugin)}; "
                        f"turn one off with CLIENTFLOW_DISABLE_PLUGINS={plugin if plugin not in REQUIRED else first}"
                    )
                owners[(kind, name)] = plugin
                table[name] = value
                registry.origin[(kind, name)] = who(plugin)
                if settings is not None:
                    registry.schemas[(kind, name)] = dict(settings)

            return register

        call(pm.hook.clientflow_register_storage, lambda plugin: adder(registry.storages, "storage backend", plugin))
        call(pm.hook.clientflow_register_notifiers, lambda plugin: adder(registry.notifiers, "notifier", plugin))

        def effects(plugin: str) -> Callable[..., None]:
            def register_effect(spec: Any) -> None:
                adder(registry.effects, "effect", plugin)(spec.name, spec)

            return register_effect

        call(pm.hook.clientflow_register_effects, effects)

        def functions(plugin: str) -> Callable[..., None]:
            def register_function(name: str, fn: Callable[..., Any], kind: str = "function") -> None:
                if kind not in ("function", "filter"):
                    raise ConfigError(f"{who(plugin)}: kind must be 'function' or 'filter', not {kind!r}")
                adder(registry.functions if kind == "function" else registry.filters, kind, plugin)(name, fn)

            return register_function

        call(pm.hook.clientflow_register_functions, functions)
        registry.broken = dict(loaded(pm).broken)
        return registry

    def storage(self, name: str, *, project_root: Path | None = None, locate: Callable[[str], str] | None = None, **settings: Any) -> Any:
        """A storage backend by name, its settings checked; an unknown name lists the installed ones."""
        return self._make("storage backend", name, settings, project_root, locate)

    def emit(self, event: dict[str, Any], settings: Callable[[str], Mapping[str, Any]] | None = None) -> None:
        """Tell this registry's observers about a run event; `settings(plugin)` gives an observer its own settings."""
        emit(event, self.pm, settings)

    def observed(self) -> bool:
        """Whether any observer hears run events (when none does, an event need not be made)."""
        return bool((self.pm or plugin_manager()).hook.clientflow_run_event.get_hookimpls())

    def notifier(self, name: str, *, project_root: Path | None = None, locate: Callable[[str], str] | None = None, **settings: Any) -> Any:
        """A notifier by name, its settings checked; an unknown name lists the installed ones."""
        return self._make("notifier", name, settings, project_root, locate)

    def secret_settings(self) -> set[tuple[str, str, str]]:
        """(kind, name, key) of every setting a plugin declared `secret` (masked like passwords)."""
        return {
            (kind, name, key)
            for (kind, name), schema in self.schemas.items()
            for key, spec in (schema.get("properties") or {}).items()
            if isinstance(spec, Mapping) and (spec.get("secret") or spec.get("writeOnly"))
        }

    def checked(self, kind: str, name: str, settings: dict[str, Any], locate: Callable[[str], str] | None = None) -> dict[str, Any]:
        """The settings of the storage backend or notifier `name` (`kind`), checked as opening it checks them, without
        opening it (`clientflow config`); an unknown name lists the installed ones."""
        made = self._factories(kind)
        if name not in made:
            raise ConfigError(f"unknown {kind} {name!r}{did_you_mean(name, made)}; installed: {', '.join(sorted(made))}{_skipped(self.broken)}")
        schema = self.schemas.get((kind, name))
        return settings if schema is None else check_settings(kind, name, schema, settings, locate or (lambda key: "configuration"))

    def _factories(self, kind: str) -> dict[str, Callable[..., Any]]:
        return self.storages if kind == "storage backend" else self.notifiers

    def _make(self, kind: str, name: str, settings: dict[str, Any], root: Path | None, locate: Callable[[str], str] | None) -> Any:
        settings = self.checked(kind, name, settings, locate)
        factory = self._factories(kind)[name]
        if root is not None and _takes(factory, "project_root"):
            settings = {**settings, "project_root": root}
        try:
            return factory(**settings)
        except ClientflowError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's factory refusing its settings, named
            raise ConfigError(f"the {kind} {name!r} ({self.origin.get((kind, name), 'a plugin')}) could not start: {type(exc).__name__}: {exc}") from exc


def _takes(factory: Callable[..., Any], parameter: str) -> bool:
    try:
        found = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return True
    return parameter in found or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in found.values())


def _valid(schema: Mapping[str, Any], value: Any) -> bool:
    """Whether `value` fits `schema`, by jsonschema-rs (fast to import); False when it cannot say, so the caller explains."""
    try:
        import jsonschema_rs  # ~10 ms to import: only when a storage or notifier that declares settings is opened

        return bool(jsonschema_rs.validator_for(dict(schema)).is_valid(value))
    except Exception:  # noqa: BLE001 - any trouble: let the reference validator decide and explain
        return False


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def check_settings(kind: str, name: str, schema: Mapping[str, Any], settings: dict[str, Any], locate: Callable[[str], str]) -> dict[str, Any]:
    """`settings` checked against the JSON Schema a plugin declared; text from the environment becomes the declared type.

    The first problem is raised as a ConfigError at the setting's place in the configuration file.
    """
    properties = schema.get("properties") or {}
    typed = dict(settings)
    for key, value in settings.items():
        wanted = properties.get(key, {}).get("type") if isinstance(properties.get(key), Mapping) else None
        if isinstance(value, str) and wanted in ("integer", "number", "boolean"):
            try:
                if wanted == "boolean" and value.lower() in _TRUE | _FALSE:
                    typed[key] = value.lower() in _TRUE
                elif wanted != "boolean":
                    typed[key] = int(value) if wanted == "integer" else float(value)
            except ValueError:
                pass  # left as text: the schema says what is wrong with it
    if _valid(schema, typed):
        return typed  # the usual case, answered by jsonschema-rs without importing the reference validator
    from jsonschema import Draft202012Validator  # the reference validator (~50 ms) only to explain settings that do not fit

    # an unknown key first: a misspelt required setting is better named by its did-you-mean than as missing
    for error in sorted(Draft202012Validator(schema).iter_errors(typed), key=lambda e: (e.validator != "additionalProperties", list(e.absolute_path))):
        key = str(error.absolute_path[0]) if error.absolute_path else ""
        if error.validator == "additionalProperties":
            unknown = sorted(set(typed) - set(properties))
            key = unknown[0] if unknown else key
            raise ConfigError(
                f"{locate(key)}: unknown {kind} setting {key!r} for {name!r}{did_you_mean(key, properties)}; known: {', '.join(sorted(properties))}"
            )
        if error.validator == "required":
            missing = str(error.message).split("'")[1] if "'" in error.message else ""
            raise ConfigError(f"{locate(missing)}: the {kind} {name!r} needs the setting {missing!r}")
        secret = isinstance(properties.get(key), Mapping) and (properties[key].get("secret") or properties[key].get("writeOnly"))
        shown = "(hidden)" if secret else repr(typed.get(key))
        hint = properties.get(key, {}).get("description") if isinstance(properties.get(key), Mapping) else None
        raise ConfigError(
            f"{locate(key)}: the {kind} setting {key!r} of {name!r} is {shown}, which does not fit: {error.validator} {error.validator_value!r}"
            + (f" ({hint})" if hint else "")
        )
    return typed


def _skipped(broken: dict[str, str]) -> str:
    """What was not loaded (a missing optional dependency, a broken plugin), for an unknown-name message."""
    parts = [f"{name} (it needs the module {module!r}: pip install 'clientflow[{name}]')" for name, module in sorted(SKIPPED.items())]
    parts += [why for _, why in sorted(broken.items())]
    return "; not loaded: " + "; ".join(parts) if parts else ""


def event(
    kind: str, time: str, run: str | None = None, flow: str | None = None, actor: str | None = None, subject: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A run event: the fields every event has, in this order, then its own."""
    return {"type": kind, "run": run, "flow": flow, "actor": actor, "subject": subject, "time": time, **extra}


def emit(event: dict[str, Any], pm: pluggy.PluginManager | None = None, settings: Callable[[str], Mapping[str, Any]] | None = None) -> None:
    """Tell every observer about a run event; one observer's failure stops neither the run nor the others."""
    pm = pm or plugin_manager()
    for impl in reversed(pm.hook.clientflow_run_event.get_hookimpls()):  # in pluggy's calling order
        try:
            arguments: dict[str, Any] = {"event": dict(event)}
            if "settings" in impl.argnames:  # an observer asks for its settings by naming them
                arguments["settings"] = dict(settings(impl.plugin_name)) if settings is not None else {}
            impl.function(**arguments)
        except Exception as exc:  # noqa: BLE001 - observers must not break runs
            print(f"clientflow: the observer {impl.plugin_name} failed on {event.get('type')}: {exc}", file=sys.stderr)
