import pytest

from mobile_distill.config import (
    Recipe,
    builtin_recipe_names,
    load_recipe,
    recipe_from_dict,
)
from mobile_distill.errors import ConfigError


def test_a_chained_floor_above_gate_1_is_refused():
    with pytest.raises(ConfigError, match="gate2.min_teacher_retention 0.96 is above gate.min_retention 0.5"):
        recipe_from_dict({"gate": {"min_retention": 0.5}})
    assert recipe_from_dict({"gate": {"min_retention": 0.5}, "gate2": {"min_teacher_retention": None}})


def test_builtin_recipes_load_and_validate():
    assert {"default", "quick"} <= set(builtin_recipe_names())
    default = load_recipe("default")
    assert default.student.type == "distilbert"
    assert default.gate.min_retention == 0.97
    assert load_recipe("quick").data.limit is not None


def test_unknown_key_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"distill\.temprature: unknown key"):
        recipe_from_dict({"distill": {"temprature": 3}}, "my.yaml")


def test_bad_values_name_the_field():
    with pytest.raises(ConfigError, match=r"my\.yaml: distill\.temperature"):
        recipe_from_dict({"distill": {"temperature": -1}}, "my.yaml")
    with pytest.raises(ConfigError, match=r"student\.layers"):
        recipe_from_dict({"student": {"layers": [3, 1]}})
    with pytest.raises(ConfigError, match="at least one loss weight"):
        recipe_from_dict({"distill": {"weights": {"kd": 0, "ce": 0, "cos": 0}}})
    with pytest.raises(ConfigError, match="unknown key"):
        recipe_from_dict({"stages": ["fine-tune"], "extra": 1})
    with pytest.raises(ConfigError, match="stages"):
        recipe_from_dict({"stages": ["export-everything"]})


def test_version_is_checked():
    with pytest.raises(ConfigError, match="version 99 is not supported"):
        recipe_from_dict({"version": 99})


def test_missing_recipe_lists_builtins(tmp_path):
    with pytest.raises(ConfigError, match="built-in: default"):
        load_recipe(tmp_path / "nope.yaml")


def test_invalid_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError) as error:
        load_recipe(path)
    assert "not valid YAML" in str(error.value) and "\n" not in str(error.value)


def test_recipe_round_trips_through_yaml(tmp_path):
    from mobile_distill.config import dump_recipe

    recipe = Recipe(name="x", seed=7)
    dump_recipe(recipe, tmp_path / "r.yaml")
    assert load_recipe(tmp_path / "r.yaml") == recipe


def test_the_student_type_keeps_its_old_name_as_an_alias():
    from mobile_distill.options import build_parser, given_options, option_flags

    # recipe files and commands written before the student's `recipe` became its `type` still mean the same
    assert recipe_from_dict({"student": {"recipe": "tinybert"}}).student.type == "tinybert"
    assert recipe_from_dict({"student": {"type": "cnn"}}).student.type == "cnn"
    for flag in ("--recipe", "--student"):
        args = build_parser().parse_args(["distill", "teacher", "-o", "out", flag, "bilstm"])
        assert given_options(args, "student") == {"type": "bilstm"}
    # errors and --help name the new flag only
    distill = build_parser()._subparsers._group_actions[0].choices["distill"]
    assert option_flags(distill)["student.type"] == "--student"
    assert "--recipe" not in distill.format_help()
    with pytest.raises(ConfigError, match="student.type"):
        recipe_from_dict({"student": {"type": "gpt"}})


def test_each_width_field_means_one_thing():
    from mobile_distill.config import StudentConfig

    # hidden_size is a transformer layer's width; the text networks' widths have their own names
    assert StudentConfig(type="bilstm", lstm_size=64).lstm_size == 64
    old = StudentConfig(type="cnn", hidden_size=32)  # the name it had until 2026-12 still reads
    assert (old.filters, old.hidden_size) == (32, None)
    with pytest.raises(ValueError, match="filters is the cnn student's width; the tinybert student has none"):
        StudentConfig(type="tinybert", filters=32)
