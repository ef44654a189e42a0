"""The plugin manager: built-ins, entry points, and what they registered.

`load_plugins()` is idempotent. `CLIENTFLOW_LOAD_PLUGINS=a,b` restricts loading
to the named plugins (an empty value loads none but the required built-ins);
`CLIENTFLOW_TRACE_PLUGINS=1` prints every hook call to stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import ConfigError, did_you_mean

DEFAULT_PLUGINS = (
    "clientflow.default_plugins.memory:MemoryPlugin",
    "clientflow.default_plugins.sqlite:SQLitePlugin",
    "clientflow.default_plugins.console:ConsolePlugin",
    "clientflow.default_plugins.outbox_files:OutboxFilesPlugin",
    "clientflow.default_plugins.postgres:PostgresPlugin",
    "clientflow.default_plugins.smtp:SMTPPlugin",
    "clientflow.default_plugins.tokens:TokenPlugin",
)
REQUIRED = {"memory"}
SKIPPED: dict[str, str] = {}  # built-in plugin -> the missing module that kept it from loading

_pm: pluggy.PluginManager | None = None


def _plugin_name(spec: str) -> str:
    return spec.split(":")[0].rsplit(".", 1)[-1]


def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, with every plugin loaded."""
    global _pm
    if _pm is None:
        _pm = load_plugins(pluggy.PluginManager(hookspecs.PROJECT))
    return _pm


def load_plugins(pm: pluggy.PluginManager) -> pluggy.PluginManager:
    """Register the hook specs, the built-ins and the `clientflow` entry points."""
    if getattr(pm, "_clientflow_loaded", False):
        return pm
    known = getattr(pm.hook, "clientflow_register_storage", None)
    if known is None or known.spec is None:  # a manager given with the specs already added keeps them
        pm.add_hookspecs(hookspecs)
    only = os.environ.get("CLIENTFLOW_LOAD_PLUGINS")
    allowed = None if only is None else {n.strip() for n in only.split(",") if n.strip()} | REQUIRED
    for spec in DEFAULT_PLUGINS:
        name = _plugin_name(spec)
        if allowed is not None and name not in allowed:
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
    if allowed is None:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    else:
        from importlib.metadata import entry_points

        for ep in entry_points(group=hookspecs.PROJECT):
            if ep.name in allowed and pm.get_plugin(ep.name) is None:
                pm.register(ep.load(), name=ep.name)
    pm.check_pending()
    if os.environ.get("CLIENTFLOW_TRACE_PLUGINS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    pm._clientflow_loaded = True  # type: ignore[attr-defined]
    return pm


@dataclass
class Registry:
    """Everything plugins registered, by kind and name."""

    storages: dict[str, Callable[..., Any]] = field(default_factory=dict)
    notifiers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    effects: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    filters: dict[str, Callable[..., Any]] = field(default_factory=dict)
    pm: pluggy.PluginManager | None = None  # where run events go; None: the process's manager

    @classmethod
    def collect(cls, pm: pluggy.PluginManager | None = None) -> Registry:
        """Ask every plugin of `pm` (default: the process's manager) what it registers."""
        pm = pm or plugin_manager()
        registry = cls(pm=pm)

        def adder(table: dict[str, Any], kind: str) -> Callable[[str, Any], None]:
            def register(name: str, value: Any) -> None:
                if name in table:
                    raise ConfigError(f"two plugins register the {kind} {name!r}")
                table[name] = value

            return register

        pm.hook.clientflow_register_storage(register=adder(registry.storages, "storage backend"))
        pm.hook.clientflow_register_notifiers(register=adder(registry.notifiers, "notifier"))

        def register_effect(spec: Any) -> None:
            adder(registry.effects, "effect")(spec.name, spec)

        pm.hook.clientflow_register_effects(register=register_effect)

        def register_function(name: str, fn: Callable[..., Any], kind: str = "function") -> None:
            if kind not in ("function", "filter"):
                raise ConfigError(f"kind must be 'function' or 'filter', not {kind!r}")
            adder(registry.functions if kind == "function" else registry.filters, kind)(name, fn)

        pm.hook.clientflow_register_functions(register=register_function)
        return registry

    def storage(self, name: str, **settings: Any) -> Any:
        """A storage backend by name; an unknown name lists the installed ones."""
        if name not in self.storages:
            raise ConfigError(f"unknown storage backend {name!r}{did_you_mean(name, self.storages)}; installed: {', '.join(sorted(self.storages))}{_skipped()}")
        return self.storages[name](**settings)

    def emit(self, event: dict[str, Any]) -> None:
        """Tell this registry's observers about a run event."""
        emit(event, self.pm)

    def notifier(self, name: str, **settings: Any) -> Any:
        """A notifier by name; an unknown name lists the installed ones."""
        if name not in self.notifiers:
            raise ConfigError(f"unknown notifier {name!r}{did_you_mean(name, self.notifiers)}; installed: {', '.join(sorted(self.notifiers))}{_skipped()}")
        return self.notifiers[name](**settings)


def _skipped() -> str:
    """What a missing optional dependency kept from loading, for an unknown-name message."""
    if not SKIPPED:
        return ""
    return "; not loaded: " + ", ".join(
        f"{name} (it needs the module {module!r}: pip install 'clientflow[{name}]')" for name, module in sorted(SKIPPED.items())
    )


def emit(event: dict[str, Any], pm: pluggy.PluginManager | None = None) -> None:
    """Tell every observer about a run event; one observer's failure stops neither the run nor the others."""
    pm = pm or plugin_manager()
    for impl in reversed(pm.hook.clientflow_run_event.get_hookimpls()):  # in pluggy's calling order
        try:
            impl.function(event=dict(event))
        except Exception as exc:  # noqa: BLE001 - observers must not break runs
            print(f"clientflow: the observer {impl.plugin_name} failed on {event.get('type')}: {exc}", file=sys.stderr)
