"""The README's walk-through matches the code: every setting, function name, route and auth level."""

from __future__ import annotations

import re
from pathlib import Path

from shared.settings import SETTING_NAMES
from tests.host import functions, trigger

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_readme_starts_with_the_two_commands() -> None:
    head = README.split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_every_setting_is_documented() -> None:
    missing = sorted(name for name in SETTING_NAMES if f"`{name}`" not in README)
    assert not missing, missing


def test_every_function_with_its_route_and_auth_is_documented(app_env: dict[str, str]) -> None:
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", README, re.M)}
    for name in functions():
        assert name in rows, f"function {name} is not in the README's table"
        binding = trigger(name)
        described = rows[name]
        if binding["type"] == "httpTrigger":
            route = binding["route"]
            assert f"/api/{route}" in described, (name, route, described)
            for method in binding["methods"]:
                assert method in described, (name, method)
            level = "anonymous" if binding.get("authLevel") == "ANONYMOUS" else "function key"
            assert level in described, (name, level, described)
        elif binding["type"] == "timerTrigger":
            assert binding["schedule"] in described
        elif binding["type"] == "queueTrigger":
            assert binding["queueName"] in described
