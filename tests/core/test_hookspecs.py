"""hookspecs.py: the plugin contract, checked through pluggy itself."""

from __future__ import annotations

import inspect
from typing import Any

import pluggy
import pytest

from pkceflow_core import Events, PkceflowError, TransportError, hookspecs
from pkceflow_core.hookspecs import PROJECT, hookimpl

ADAPTER_HOOKS = {
    "pkceflow_transport",
    "pkceflow_browser",
    "pkceflow_listener",
    "pkceflow_async_transport",
    "pkceflow_async_listener",
}
STORE_HOOKS = {"pkceflow_register_stores"}
PROVIDER_HOOKS = {"pkceflow_provider_presets"}
EVENT_HOOKS = {
    "pkceflow_authorization_url",
    "pkceflow_callback_received",
    "pkceflow_token_received",
    "pkceflow_refresh_done",
    "pkceflow_token_changed",
    "pkceflow_error",
}


def manager(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def test_the_project_and_entry_point_group_is_pkceflow() -> None:
    assert PROJECT == "pkceflow"
    assert hookimpl.project_name == "pkceflow"


def test_the_specifications_declare_every_adapter_and_event_hook() -> None:
    pm = manager()

    names = {name for name in dir(pm.hook) if name.startswith("pkceflow_")}

    assert names == ADAPTER_HOOKS | STORE_HOOKS | PROVIDER_HOOKS | EVENT_HOOKS


def test_every_plugin_s_presets_are_collected() -> None:
    class One:
        @hookimpl
        def pkceflow_provider_presets(self) -> list[str]:
            return ["a"]

    class Two:
        @hookimpl
        def pkceflow_provider_presets(self) -> list[str]:
            return ["b", "c"]

    results = manager(One(), Two()).hook.pkceflow_provider_presets()

    assert sorted(p for presets in results for p in presets) == ["a", "b", "c"]


def test_the_preset_hook_specification_returns_an_empty_list_itself() -> None:
    assert hookspecs.pkceflow_provider_presets() == []


def test_the_first_non_none_answer_to_an_adapter_hook_wins() -> None:
    class Passes:
        @hookimpl
        def pkceflow_browser(self, open_browser: bool) -> object:
            return None

    class Answers:
        @hookimpl
        def pkceflow_browser(self, open_browser: bool) -> object:
            return f"browser {open_browser}"

    pm = manager(Answers(), Passes())

    assert pm.hook.pkceflow_browser(open_browser=False) == "browser False"


def test_every_plugin_registers_its_stores_through_the_one_callable() -> None:
    registered: list[tuple[str, object, str]] = []

    def register(name: str, factory: object, description: str) -> None:
        registered.append((name, factory, description))

    class Redis:
        @hookimpl
        def pkceflow_register_stores(self, register: Any) -> None:
            register("redis", dict, "token sets in Redis")

    class Vault:
        @hookimpl
        def pkceflow_register_stores(self, register: Any) -> None:
            register("vault", list, "token sets in Vault")
            register("vault-kv", list, "token sets in Vault's KV engine")

    results = manager(Redis(), Vault()).hook.pkceflow_register_stores(register=register)

    assert results == []
    assert sorted(registered) == [
        ("redis", dict, "token sets in Redis"),
        ("vault", list, "token sets in Vault"),
        ("vault-kv", list, "token sets in Vault's KV engine"),
    ]


def test_a_trylast_builtin_yields_to_an_installed_plugin() -> None:
    class Builtin:
        @hookimpl(trylast=True)
        def pkceflow_browser(self, open_browser: bool) -> object:
            return "builtin"

    class Plugin:
        @hookimpl
        def pkceflow_browser(self, open_browser: bool) -> object:
            return "plugin"

    assert manager(Plugin(), Builtin()).hook.pkceflow_browser(open_browser=True) == "plugin"
    assert manager(Builtin(), Plugin()).hook.pkceflow_browser(open_browser=True) == "plugin"


def test_a_trylast_builtin_answers_when_every_plugin_passes() -> None:
    class Builtin:
        @hookimpl(trylast=True)
        def pkceflow_transport(self, timeout: float, ca_bundle: str | None) -> object:
            return "builtin"

    class Passes:
        @hookimpl
        def pkceflow_transport(self, timeout: float, ca_bundle: str | None) -> object:
            return None

    pm = manager(Builtin(), Passes())

    assert pm.hook.pkceflow_transport(timeout=10.0, ca_bundle=None) == "builtin"


def test_an_event_hook_calls_every_implementation() -> None:
    heard: list[tuple[str, str, float | None]] = []

    class First:
        @hookimpl
        def pkceflow_refresh_done(self, key: str, expires_at: float | None) -> None:
            heard.append(("first", key, expires_at))

    class Second:
        @hookimpl
        def pkceflow_refresh_done(self, key: str, expires_at: float | None) -> None:
            heard.append(("second", key, expires_at))

    manager(First(), Second()).hook.pkceflow_refresh_done(key="work", expires_at=5.0)

    assert sorted(heard) == [("first", "work", 5.0), ("second", "work", 5.0)]


def test_an_implementation_may_take_a_subset_of_the_arguments() -> None:
    class OnlyPort:
        @hookimpl
        def pkceflow_listener(self, port: int) -> object:
            return f"port {port}"

    pm = manager(OnlyPort())

    assert pm.hook.pkceflow_listener(host="127.0.0.1", port=0, path="/cb", bind_host=None) == (
        "port 0"
    )


def test_an_implementation_with_an_argument_the_hook_lacks_is_refused() -> None:
    class Wrong:
        @hookimpl
        def pkceflow_register_stores(self, register: object, password: str) -> None:
            pass

    with pytest.raises(pluggy.PluginValidationError, match="password"):
        manager(Wrong())


def test_an_event_implementation_is_checked_against_the_event_s_arguments() -> None:
    class Wrong:
        @hookimpl
        def pkceflow_refresh_done(self, key: str, when: float) -> None:
            pass

    with pytest.raises(pluggy.PluginValidationError, match="when"):
        manager(Wrong())


def test_the_error_hook_receives_the_error() -> None:
    heard: list[PkceflowError] = []

    class Listener:
        @hookimpl
        def pkceflow_error(self, key: str, error: PkceflowError) -> None:
            heard.append(error)

    error = TransportError("down")
    manager(Listener()).hook.pkceflow_error(key="work", error=error)

    assert heard == [error]


EVENT_METHODS = [
    name for name, _ in inspect.getmembers(Events, inspect.isfunction) if not name.startswith("_")
]


@pytest.mark.parametrize("name", EVENT_METHODS)
def test_every_event_has_a_hook_with_the_same_arguments(name: str) -> None:
    method = inspect.signature(getattr(Events, name))
    spec = getattr(manager().hook, f"pkceflow_{name}").spec
    arguments = list(method.parameters)[1:]

    # What pluggy reads (and checks implementations against), and what people read.
    assert list(spec.argnames) == arguments
    assert spec.kwargnames == ()
    assert list(inspect.signature(spec.function).parameters) == arguments
    assert spec.function.__doc__ == getattr(Events, name).__doc__


def test_every_events_method_has_its_hook_and_every_event_hook_its_method() -> None:
    pm = manager()
    hooks = {name for name in dir(pm.hook) if name.startswith("pkceflow_")}
    event_hooks = hooks - ADAPTER_HOOKS - STORE_HOOKS - PROVIDER_HOOKS

    assert event_hooks == {f"pkceflow_{name}" for name in EVENT_METHODS}
    assert {name: f"pkceflow_{name}" for name in EVENT_METHODS} == hookspecs.EVENT_HOOKS
    assert event_hooks == EVENT_HOOKS  # the names plugins implement today


def test_an_event_hook_specification_ignores_a_call_itself() -> None:
    assert hookspecs.pkceflow_callback_received() is None  # type: ignore[attr-defined]
