"""pkceflow stores: the token stores installed, as the plugins registered them."""

from __future__ import annotations

import sys
from pathlib import Path

from pkceflow.plugins import make_plugin_manager, store_names
from pkceflow.testing import TestProvider
from tests.cli.helpers import Cli, Result

RUNNER = Path(__file__).with_name("local_stores.py")


def run_with(cli: Cli, plugins: str, *args: str) -> Result:
    return cli.run(*args, command=[sys.executable, str(RUNNER), plugins])


def test_stores_lists_every_installed_store_one_a_line(cli: Cli) -> None:
    installed = store_names(make_plugin_manager())

    result = cli.run("stores").ok()

    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(installed)
    for line, (name, description) in zip(lines, installed.items(), strict=True):
        assert line.startswith(name)
        assert line.endswith(f"  {description}")
    assert {"file", "keyring", "memory"} <= set(installed)


def test_stores_json_gives_each_name_and_description(cli: Cli) -> None:
    installed = store_names(make_plugin_manager())

    rows = cli.run("stores", "--json").ok().json()

    assert rows == [{"name": name, "description": text} for name, text in installed.items()]


def test_a_plugin_s_stores_are_listed_with_the_built_in_ones(cli: Cli) -> None:
    result = run_with(cli, "vault", "stores").ok()

    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"file", "keyring", "memory", "vault", "vault-kv"} <= set(names)
    assert names == sorted(names)
    assert "vault-kv  token sets in Vault's KV engine\n" in result.stdout


def test_a_plugin_taking_a_built_in_store_name_is_a_usage_error(cli: Cli) -> None:
    result = run_with(cli, "shadow", "stores")

    line = result.fails(2, "two plugins register a token store called 'file'")
    assert "'pkceflow.builtins'" in line
    assert "'local-shadow'" in line


def test_login_with_a_store_name_no_plugin_registers_names_the_installed_ones(
    cli: Cli, provider: TestProvider
) -> None:
    result = run_with(
        cli, "vault", "login", "--profile", "new", "--client-id", "pkceflow-test",
        "--issuer", provider.issuer, "--store", "vaults",
    )  # fmt: skip

    line = result.fails(2, "no token store called 'vaults' is installed (installed: file, ")
    assert "vault, vault-kv" in line
    assert provider.count() == 0


def test_the_store_option_points_to_the_listing(cli: Cli) -> None:
    text = cli.run("login", "--help").ok().stdout

    assert "see pkceflow stores" in " ".join(text.split())
    assert "keyring" not in text


def test_status_lists_a_profile_whose_store_is_gone_as_signed_out(
    cli: Cli, provider: TestProvider
) -> None:
    cli.seed(provider)
    path = cli.profile_path()
    text = path.read_text("utf-8")
    assert 'store = "file"' in text
    path.write_text(text.replace('store = "file"', 'store = "vault"'), "utf-8")

    [row] = cli.run("status", "--json").ok().json()
    assert (row["store"], row["logged_in"]) == ("vault", False)
    cli.run("token", "--profile", "work").fails(2, "no token store called 'vault'")
