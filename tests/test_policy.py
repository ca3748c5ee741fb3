"""The policy file: the bundled one loads; a bad one is refused with the line that is wrong."""

from __future__ import annotations

from importlib import resources

import pytest

from scoring.policy import PolicyError, load_policy, parse_policy

BUNDLED = resources.files("scoring").joinpath("policy.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def test_bundled_policy_loads():
    policy = load_policy()
    assert policy.version
    assert policy.dibao_standard_yuan("420106002003") == 1070
    assert policy.dibao_standard_yuan("110101001001") == 800  # the fallback
    assert policy.oop_line_yuan == 30000
    assert policy.is_severe_disability("mental", 3)
    assert not policy.is_severe_disability("physical", 3)
    assert policy.level_for(0) == 1 and policy.level_for(100) == 4


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("out_of_pocket_line_yuan: 30000", "out_of_pocket_line_yuan: lots", "out_of_pocket_line_yuan"),
        ("economic: 0.25", "economic: 0.35", "weights:"),
        ("  - {min: 80, level: 4}", "  - {min: 80, level: 9}", "{min: 80, level: 9}"),
        ('  - prefix: "420106"', '  - prefix: "42O106"', "42O106"),
        ("gradual_exit_upper_ratio: 1.5", "gradual_exit_upper_ratio: 0.5", "gradual_exit_upper_ratio"),
        ("  shock: 0.15           # 突发事件", "  shock: 0.15\n  luck: 0.0", "luck"),
    ],
)
def test_bad_policy_names_the_line(old, new, needle):
    assert old in BUNDLED
    text = BUNDLED.replace(old, new, 1)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "my-policy.yaml")
    assert f"my-policy.yaml, line {line_of(text, needle)}:" in str(caught.value)


def test_missing_setting_and_broken_yaml():
    text = BUNDLED.replace("  window_days: 365", "")
    with pytest.raises(PolicyError, match="medical.window_days: missing"):
        parse_policy(text, "p.yaml")
    with pytest.raises(PolicyError, match="line 2"):
        parse_policy("policy_version: x\n  bad: [unclosed\n", "p.yaml")
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy("/no/such/policy.yaml")
