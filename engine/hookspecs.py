"""The map of extension points: every hook a plugin can implement.

Hooks that contribute things take a `register` callable and call it once per
thing; configuration then chooses among what was registered by name. Built-in
plugins in `plugins/` use exactly these hooks, like any third-party package
that declares an entry point in the `clientflow` group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from .runtime.outcome import EffectSpec
    from .storage import Notifier, Storage

PROJECT = "clientflow"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# What each hook's `register` accepts: annotate your hook's parameter with these, and mypy
# checks what your factories return against the installed clientflow.
class RegisterStorage(Protocol):
    def __call__(self, name: str, factory: Callable[..., Storage], *, settings: Mapping[str, Any] | None = None) -> None: ...


class RegisterNotifier(Protocol):
    def __call__(self, name: str, factory: Callable[..., Notifier], *, settings: Mapping[str, Any] | None = None) -> None: ...


class RegisterEffect(Protocol):
    def __call__(self, spec: EffectSpec) -> None: ...


class RegisterFunction(Protocol):
    def __call__(self, name: str, fn: Callable[..., Any], kind: str = "function") -> None: ...


@hookspec
def clientflow_register_storage(register: RegisterStorage) -> None:
    """Register storage backends: `register(name, factory, settings=SCHEMA)`.

    `factory(project_root=Path, **settings)` returns a `clientflow.storage.Storage`;
    the settings come from the project's configuration (`[storage]`) and the
    environment (CLIENTFLOW_<NAME>_<KEY>), checked against `settings` (a JSON
    Schema; a property with `"secret": true` is masked) when given. A name may be
    registered once; configuration picks one with `storage.backend`.
    """


@hookspec
def clientflow_register_notifiers(register: RegisterNotifier) -> None:
    """Register notifiers: `register(name, factory, settings=SCHEMA)`.

    `factory(project_root=Path, **settings)` returns a `clientflow.storage.Notifier`;
    settings as for storage (`[notifier.NAME]`, CLIENTFLOW_<NAME>_<KEY>).
    Configuration enables any number by name (`notifiers = [...]`); the outbox
    hands every email to each of them and retries each on its own.
    """


@hookspec
def clientflow_register_effects(register: RegisterEffect) -> None:
    """Register outcome effects beyond set, delete and create: `register(spec)`.

    `spec` is a `clientflow.runtime.outcome.EffectSpec`: its `name` is what flows write as
    `op:`; `apply(ctx)` makes the change inside the commit's transaction and
    returns the changes; `simulate(ctx)` returns what a dry-run shows. Changes
    that can only be predicted are marked `predicted` in the plan.
    """


@hookspec
def clientflow_register_functions(register: RegisterFunction) -> None:
    """Register functions and filters for conditions and templates.

    `register(name, fn, kind="function")` makes `name(...)` callable;
    `kind="filter"` makes `value | name(...)` available. Functions must be pure
    and return data (mappings, lists, text, numbers, booleans, None).
    """


@hookspec
def clientflow_run_event(event: dict[str, Any], settings: Mapping[str, Any]) -> None:
    """Observe what runs do: `event["type"]` is one of started, answered, blocked,
    invalid, cancelled, committed, delivered, failed, awaiting_approval, rejected.

    Every event carries `type`, `run`, `flow`, `actor`, `subject` (ids; None
    for delivery events, which concern many runs) and `time` (ISO 8601, the
    engine's clock). `committed` adds `changes` and `audit` as the plan shows
    them and `emails` (template, to, subject); `blocked` adds `rules`; `invalid`
    `fields`; `answered` `fields`; `delivered` `sent`; `failed` `failed` and
    `errors`; `awaiting_approval` and `rejected` `approval` (status, expires,
    by, reason, step). `settings` is the observer plugin's own table of the configuration
    (`[plugin.NAME]`, and CLIENTFLOW_<NAME>_<KEY> from the environment); an
    observer may leave it out of its signature. Events are plain JSON data; an
    observer must not raise (an exception is logged and ignored).
    """


@hookspec(firstresult=True)
def clientflow_resolve_actor(request: Any, settings: dict[str, Any]) -> str | None:
    """Return the id of the actor an HTTP request is authenticated as, or None.

    The first plugin that recognises the request wins; the built-in one checks
    a signed bearer token made with the configured secret.
    """
