"""One test per hook of engine/hookspecs.py, each with tiny inline plugins and a fresh plugin manager."""

from __future__ import annotations

import inspect
import json
import shutil
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy
import pytest
from conftest import DEMO, NOW, Recorder
from conftest import PROJECT as ACCOUNTS

from clientflow import EffectSpec, Engine, hookimpl
from clientflow import hookspecs as hookspecs_module
from clientflow.default_plugins.memory import MemoryStorage
from clientflow.errors import ConfigError
from clientflow.hookspecs import PROJECT
from clientflow.plugins import Registry, load_plugins
from clientflow.runtime.data import Change
from clientflow.runtime.outcome import EffectContext
from clientflow.storage import Email


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A fresh manager knowing only the hook specs (pluggy's own `pm` fixture)."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(hookspecs_module)
    return manager


@pytest.fixture
def loaded(pm: pluggy.PluginManager) -> pluggy.PluginManager:
    """A fresh manager with the built-in plugins, as the engine loads them."""
    return load_plugins(pm)


def project(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    """A copy of the fixture project under tmp_path, plus `files` written inline.

    Its data schema lets a client hold a `shelf` (what the `shelve` effect below writes):
    a run never writes what the data schema refuses.
    """
    root = tmp_path / "project"
    for folder in ("flows", "templates", "schema"):
        shutil.copytree(ACCOUNTS / folder, root / folder)
    schema_path = root / "schema" / "data.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    schema["$defs"]["client"]["properties"]["shelf"] = {"type": "string", "description": "Where its paperwork is kept."}
    schema_path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    for name, text in (files or {}).items():
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


# clientflow_register_storage -------------------------------------------------------------
class Shelf(MemoryStorage):
    name = "shelf"
    opened: list[Shelf] = []

    def __init__(self, **settings: Any) -> None:
        super().__init__()
        self.settings = settings
        Shelf.opened.append(self)


class ShelfPlugin:
    @hookimpl
    def clientflow_register_storage(self, register: Any) -> None:
        register("shelf", Shelf)


def test_a_storage_backend_is_registered_by_name_and_chosen_by_configuration(loaded: pluggy.PluginManager, tmp_path: Path) -> None:
    loaded.register(ShelfPlugin())
    assert {"memory", "sqlite", "shelf"} <= set(Registry.collect(loaded).storages)
    root = project(tmp_path, {"clientflow.toml": 'storage = {backend = "shelf", depth = 3}\nnotifiers = []\n'})
    Shelf.opened.clear()
    engine = Engine.open(root, plugins=loaded, now=NOW)
    assert engine.storage is Shelf.opened[0] and Shelf.opened[0].settings == {"depth": 3, "project_root": root}  # every factory learns the project folder
    engine.load_data(DEMO)
    assert engine.apply("reactivate-client", "u1", "c3").status == "completed"  # type: ignore[union-attr]
    assert Shelf.opened[0].docs["clients"]["c3"].body["subscription"] == "active"


# clientflow_register_notifiers -------------------------------------------------------------
class Pigeon(Recorder):
    def __init__(self, project_root: Path, **settings: Any) -> None:
        super().__init__()
        self.project_root, self.settings = project_root, settings


class LoftPlugin:
    """Two notifiers, both enabled: every email goes to each."""

    def __init__(self) -> None:
        self.made: dict[str, Pigeon] = {}

    def make(self, name: str) -> Any:
        def factory(**settings: Any) -> Pigeon:
            self.made[name] = Pigeon(**settings)
            return self.made[name]

        return factory

    @hookimpl
    def clientflow_register_notifiers(self, register: Any) -> None:
        register("left", self.make("left"))
        register("right", self.make("right"))


def test_every_enabled_notifier_gets_every_email(loaded: pluggy.PluginManager, tmp_path: Path) -> None:
    loft = LoftPlugin()
    loaded.register(loft)
    root = project(tmp_path, {"clientflow.toml": 'notifiers = ["left", "right"]\n[notifier.left]\nwing = "port"\n'})
    engine = Engine.open(root, data=DEMO, plugins=loaded, now=NOW)
    assert set(engine.notifiers) == {"left", "right"}
    assert loft.made["left"].settings == {"wing": "port"} and loft.made["left"].project_root == root
    plan = engine.apply("disconnect-client", "u1", "c1", {"owner": "cu1"})
    assert plan is not None and len(plan.emails) == 2
    for pigeon in loft.made.values():
        assert [(e.template, e.to) for e in pigeon.sent] == [(e.template, tuple(e.to)) for e in plan.emails]
    with engine.storage.transaction() as tx:
        assert sorted((r["notifier"], r["status"]) for r in tx.outbox()) == [("left", "sent")] * 2 + [("right", "sent")] * 2


# clientflow_register_effects -----------------------------------------------------------------
SHELVE_FLOW = {
    "flows/shelve-client.yaml": """
        id: shelve-client
        title: Shelve client
        summary: Move a client's paperwork to a shelf, with an effect a plugin adds.
        subject: client
        steps:
          - id: confirm
            kind: info
            title: Shelve {{ client.name }}?
        outcome:
          effects:
            - op: shelve
              with: {shelf: "'cold storage'"}
          banner: "{{ client.name }} is on the shelf."
          reversible: true
          audit: shelved {{ client.id }}
    """
}


class ShelvePlugin:
    """`shelve` sets a field when it commits; its dry-run can only guess what the archive will say."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    def apply(self, ctx: EffectContext) -> list[Change]:
        self.applied.append(str(ctx.id))
        return [ctx.records.set(ctx.entity, ctx.id, "shelf", ctx.args["shelf"])]

    def simulate(self, ctx: EffectContext) -> list[Change]:
        return [Change("update", ctx.entity, str(ctx.id), "shelf", None, ctx.args["shelf"])]

    @hookimpl
    def clientflow_register_effects(self, register: Any) -> None:
        register(EffectSpec("shelve", apply=self.apply, simulate=self.simulate, predicted=True))


def test_a_plugin_effect_is_simulated_in_a_dry_run_and_applied_in_a_commit(loaded: pluggy.PluginManager, tmp_path: Path) -> None:
    effect = ShelvePlugin()
    loaded.register(effect)
    engine = Engine.open(project(tmp_path, SHELVE_FLOW), data=DEMO, plugins=loaded, notifiers={}, now=NOW)
    dry = engine.simulate("shelve-client", "u1", "c1").to_json()
    assert dry["changes"] == [{"op": "update", "entity": "client", "id": "c1", "field": "shelf", "before": None, "after": "cold storage", "predicted": True}]
    assert effect.applied == []
    assert "shelf" not in engine.export()["clients"][0]

    done = engine.apply("shelve-client", "u1", "c1")
    assert done is not None and done.status == "completed"
    assert effect.applied == ["c1"]
    assert [c.to_json() for c in done.changes] == [{"op": "update", "entity": "client", "id": "c1", "field": "shelf", "before": None, "after": "cold storage"}]
    assert engine.export()["clients"][0]["shelf"] == "cold storage"


def test_an_effect_without_a_simulation_runs_on_the_dry_runs_overlay(loaded: pluggy.PluginManager, tmp_path: Path) -> None:
    effect = ShelvePlugin()

    class Plain:
        @hookimpl
        def clientflow_register_effects(self, register: Any) -> None:
            register(EffectSpec("shelve", apply=effect.apply))

    loaded.register(Plain())
    engine = Engine.open(project(tmp_path, SHELVE_FLOW), data=DEMO, plugins=loaded, notifiers={}, now=NOW)
    dry = engine.simulate("shelve-client", "u1", "c1").to_json()
    assert dry["changes"][0]["after"] == "cold storage" and "predicted" not in dry["changes"][0]
    assert "shelf" not in engine.export()["clients"][0]


def test_a_flow_naming_an_effect_nobody_registered_does_not_load(loaded: pluggy.PluginManager, tmp_path: Path) -> None:
    from clientflow.errors import DefinitionError

    with pytest.raises(DefinitionError, match="shelve"):
        Engine.open(project(tmp_path, SHELVE_FLOW), data=DEMO, plugins=loaded, notifiers={})


class Exploding:
    """An effect that fails after the flow's own effects have changed the records."""

    @hookimpl
    def clientflow_register_effects(self, register: Any) -> None:
        def explode(ctx: EffectContext) -> list[Change]:
            raise RuntimeError("the archive is on fire")

        register(EffectSpec("explode", apply=explode, simulate=lambda ctx: []))


def test_a_failure_during_a_commit_applies_nothing(loaded: pluggy.PluginManager, embedded: str, tmp_path: Path) -> None:
    from conftest import open_engine

    loaded.register(Exploding())
    flow = {
        "flows/burn-client.yaml": """
            id: burn-client
            title: Burn client
            summary: Changes the client, queues an email, then fails.
            subject: client
            steps:
              - id: confirm
                kind: info
                title: Burn {{ client.name }}?
            outcome:
              effects:
                - {op: update, field: subscription, to: "'deactivated'"}
                - {op: explode}
              emails:
                - template: delete-confirmation
                  to: actor.email
              reversible: false
              audit: burnt {{ client.id }}
        """
    }
    recorder = Recorder()
    engine = open_engine(embedded, tmp_path, root=project(tmp_path, flow), plugins=loaded, notifiers={"record": recorder})
    assert engine.simulate("burn-client", "u1", "c1").status == "completed"
    view = engine.start("burn-client", "u1", "c1", {})
    before = engine.export()
    with pytest.raises(RuntimeError, match="on fire"):
        engine.commit(view.run)
    assert engine.export() == before
    assert engine.audit_log() == []
    with engine.storage.transaction() as tx:
        assert tx.outbox() == []
    assert recorder.sent == []
    assert engine.view(view.run).status == "ready"  # the run can still be cancelled or retried
    with pytest.raises(RuntimeError, match="on fire"):
        engine.apply("burn-client", "u1", "c1")
    assert engine.export() == before and engine.audit_log() == []


# clientflow_register_functions ---------------------------------------------------------------
class VipPlugin:
    def __init__(self, vips: set[str]) -> None:
        self.vips = vips

    @hookimpl
    def clientflow_register_functions(self, register: Any) -> None:
        register("is_vip", lambda id: id in self.vips)
        register("shout", lambda text: str(text).upper() + "!", kind="filter")


VIP_FLOW = {
    "flows/thank-client.yaml": """
        id: thank-client
        title: Thank client
        summary: Send a VIP a thank-you, using a function and a filter from a plugin.
        subject: client
        preconditions:
          - name: vip
            if: is_vip(client.id) and (client.name | shout) != 'NOBODY!'
            message: "{{ client.name | shout }} is not a VIP"
        steps:
          - id: confirm
            kind: info
            title: Thank {{ client.name | shout }}
        outcome:
          banner: Thanked {{ client.name | shout }}
          reversible: true
          audit: thanked {{ client.id }}
    """
}


def test_plugin_functions_and_filters_work_in_conditions_and_texts(loaded: pluggy.PluginManager, tmp_path: Path) -> None:
    loaded.register(VipPlugin({"c1"}))
    engine = Engine.open(project(tmp_path, VIP_FLOW), data=DEMO, plugins=loaded, notifiers={}, now=NOW)
    offered = {f.flow: f for f in engine.available("u1", "c1").flows}
    assert offered["thank-client"].available
    plan = engine.simulate("thank-client", "u1", "c1")
    assert [s.title for s in plan.screens] == ["Thank ACME LTD!"] and plan.banners == ["Thanked ACME LTD!"]
    refused = {f.flow: f for f in engine.available("u1", "c2").flows}["thank-client"]
    assert refused.reasons == [{"rule": "vip", "message": "EMPTY SHELL CO! is not a VIP"}]


def test_a_function_kind_must_be_function_or_filter(pm: pluggy.PluginManager) -> None:
    class Odd:
        @hookimpl
        def clientflow_register_functions(self, register: Any) -> None:
            register("twice", lambda x: x * 2, kind="macro")

    pm.register(Odd())
    with pytest.raises(ConfigError, match="kind must be 'function' or 'filter'"):
        Registry.collect(pm)


# clientflow_run_event ----------------------------------------------------------------------
class Watcher:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    @hookimpl
    def clientflow_run_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)


class Broken:
    @hookimpl
    def clientflow_run_event(self, event: dict[str, Any]) -> None:
        raise RuntimeError("this observer is broken")


def test_observers_see_every_run_event_and_cannot_break_a_run(loaded: pluggy.PluginManager, capsys: pytest.CaptureFixture[str]) -> None:
    watcher = Watcher()
    loaded.register(watcher)
    engine = Engine.open(ACCOUNTS, data=DEMO, plugins=loaded, notifiers={"record": Recorder()}, now=NOW)
    engine.start("deactivate-client", "u2", "c1")
    view = engine.start("deactivate-client", "u1", "c1")
    engine.submit(view.run, {"reason": "Busy"})
    engine.cancel(view.run)
    view = engine.start("deactivate-client", "u1", "c1", {"notify_client": True})
    engine.commit(view.run)
    engine.apply("delete-client", "u1", "c2", {"confirm_name": "wrong"})
    assert [e["type"] for e in watcher.events] == ["blocked", "started", "answered", "cancelled", "started", "committed", "delivered", "started", "invalid"]
    for event in watcher.events:  # the same first fields in every event
        assert list(event)[:6] == ["type", "run", "flow", "actor", "subject", "time"] and event["time"] == NOW.isoformat()
    assert watcher.events[0]["rules"] == ["practice-administrator"] and watcher.events[0]["actor"] == "u2"
    started = watcher.events[1]
    assert started == {"type": "started", "run": started["run"], "flow": "deactivate-client", "actor": "u1", "subject": "c1", "time": NOW.isoformat()}
    committed = watcher.events[5]
    assert len(committed["emails"]) == 2 and watcher.events[6]["sent"] == 2
    assert committed["changes"] == [{"op": "update", "entity": "client", "id": "c1", "field": "subscription", "before": "active", "after": "deactivated"}]
    assert committed["audit"]["actor"] == "u1" and committed["audit"]["summary"]
    assert watcher.events[7]["run"] == watcher.events[8]["run"] and watcher.events[8]["fields"] == ["confirm_name"]  # `apply` starts too
    json.dumps(watcher.events)  # plain JSON data

    loaded.register(Broken())
    assert engine.apply("reactivate-client", "u1", "c3") is not None
    assert engine.export()["clients"][2]["subscription"] == "active"
    assert "this observer is broken" in capsys.readouterr().err
    assert [e["type"] for e in watcher.events[-3:]] == ["started", "committed", "delivered"]
    assert watcher.events[-2]["changes"][0]["after"] == "active" and watcher.events[-1]["sent"] == 1


def test_an_observer_may_ask_for_its_own_settings(loaded: pluggy.PluginManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    class Forwarder:
        @hookimpl
        def clientflow_run_event(self, event: dict[str, Any], settings: Mapping[str, Any]) -> None:
            seen.append(dict(settings))

    loaded.register(Forwarder(), name="forwarder")
    root = project(tmp_path, {"clientflow.toml": 'notifiers = []\n[plugin.forwarder]\nurl = "https://audit.example"\n'})
    monkeypatch.setenv("CLIENTFLOW_FORWARDER_TOKEN", "t0k")
    engine = Engine.open(root, data=DEMO, plugins=loaded, now=NOW)
    engine.apply("reactivate-client", "u1", "c3")
    assert seen and all(s == {"url": "https://audit.example", "token": "t0k"} for s in seen)


# clientflow_resolve_actor ------------------------------------------------------------------
def test_the_first_plugin_that_recognises_a_request_names_the_actor(pm: pluggy.PluginManager) -> None:
    class Header:
        @hookimpl
        def clientflow_resolve_actor(self, request: Any, settings: dict[str, Any]) -> str | None:
            return request.get("X-Actor") if settings.get("trust_headers") else None

    class Fallback:
        @hookimpl(trylast=True)
        def clientflow_resolve_actor(self, request: Any, settings: dict[str, Any]) -> str | None:
            return "anonymous"

    pm.register(Header())
    pm.register(Fallback())
    assert pm.hook.clientflow_resolve_actor(request={"X-Actor": "u1"}, settings={"trust_headers": True}) == "u1"
    assert pm.hook.clientflow_resolve_actor(request={"X-Actor": "u1"}, settings={}) == "anonymous"


# names and loading -----------------------------------------------------------------------
def test_unknown_backend_and_notifier_names_list_the_installed_choices(loaded: pluggy.PluginManager, tmp_path: Path) -> None:
    registry = Registry.collect(loaded)
    with pytest.raises(ConfigError, match=r"unknown storage backend 'mongo'; .*installed: (.*, )?memory, (.*, )?sqlite"):
        registry.storage("mongo")
    with pytest.raises(ConfigError, match=r"unknown storage backend 'sqlit'; did you mean 'sqlite'\?; installed: "):
        registry.storage("sqlit")
    with pytest.raises(ConfigError, match=r"unknown notifier 'pigeon'.*installed: (.*, )?console, (.*, )?outbox"):
        registry.notifier("pigeon")
    root = project(tmp_path, {"clientflow.toml": 'storage = "mongo"\n'})
    with pytest.raises(ConfigError, match="installed: "):
        Engine.open(root, plugins=loaded)


def test_two_plugins_cannot_register_one_name(loaded: pluggy.PluginManager) -> None:
    class Again:
        @hookimpl
        def clientflow_register_storage(self, register: Any) -> None:
            register("memory", MemoryStorage)

    loaded.register(Again())
    with pytest.raises(ConfigError, match="two plugins register the storage backend 'memory'"):
        Registry.collect(loaded)


def test_a_misspelled_hook_fails_loudly(pm: pluggy.PluginManager) -> None:
    class Typo:
        @hookimpl
        def clientflow_register_storag(self, register: Any) -> None:
            raise AssertionError("never called")

    pm.register(Typo())
    with pytest.raises(pluggy.PluginValidationError, match="clientflow_register_storag"):
        load_plugins(pm)


def test_loading_can_be_restricted_by_name(pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTFLOW_LOAD_PLUGINS", "console")
    registry = Registry.collect(load_plugins(pm))
    assert set(registry.storages) == {"memory"} and set(registry.notifiers) == {"console"}
    assert load_plugins(pm) is pm  # loading twice changes nothing


# the map of hooks ----------------------------------------------------------------------------
def hookspecs() -> dict[str, Any]:
    return {name: fn for name, fn in inspect.getmembers(hookspecs_module, inspect.isfunction) if hasattr(fn, f"{PROJECT}_spec")}


def test_every_hook_is_documented_and_tested() -> None:
    specs = hookspecs()
    assert len(specs) >= 6
    source = Path(__file__).read_text(encoding="utf-8")
    for name, fn in specs.items():
        assert name.startswith("clientflow_"), name
        assert fn.__doc__ and len(fn.__doc__.split()) >= 8, f"{name} needs a docstring stating its contract"
        assert f"def {name}(" in source, f"{name} has no plugin in tests/test_plugins.py"
        assert fn.__annotations__.get("return") is not None, f"{name} needs type hints"


def test_the_console_notifier_prints_each_email(capsys: pytest.CaptureFixture[str]) -> None:
    from clientflow.default_plugins.console import Console

    Console().send(Email("e1", "<e1@x.example>", "a@x.example", ("b@y.example",), "Hello", "Body text", None, "t", "r1"))
    printed = capsys.readouterr().err
    assert "To: b@y.example" in printed and "Subject: Hello" in printed and "Body text" in printed
