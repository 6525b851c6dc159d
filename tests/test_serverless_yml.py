"""The target ``serverless.yml`` and the Framework's flags name, as the CLI reads it without target flags."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import StsProxy

from sls_access import ConfigError
from sls_access.cli import main
from sls_access.cli._serverless_yml import child_option, passes_aws_profile, read_service_target, service_file

PROD_ASSUMED = "arn:aws:sts::111111111111:assumed-role/sls-access-prod/sls-acme.shop.prod"
EU_ASSUMED = "arn:aws:sts::333333333333:assumed-role/sls-access-eu/sls-acme.shop.prod"

SERVICE = """
service: shop-api
org: acme
app: shop
provider:
  name: aws
  runtime: python3.12
  stage: staging
  region: eu-west-1
resources:
  Resources:
    Bucket:
      Type: AWS::S3::Bucket
      Properties:
        BucketName: !Sub "${AWS::StackName}-bucket"
        Tags: !If [IsProd, [{Key: env, Value: !Ref Stage}], !Ref AWS::NoValue]
        Policy: !GetAtt
          - Role
          - Arn
    Other: !Transform {Name: AWS::Include, Parameters: {Location: s3://x/y.yml}}
"""


def write(directory: Path, text: str, name: str = "serverless.yml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def read(path: Path, *child: str, **given: str) -> tuple[str, str, str, str | None]:
    target = read_service_target(
        path,
        org=given.get("org"),
        app=given.get("app"),
        stage=given.get("stage"),
        region=given.get("region"),
        child=child,
    )
    return target.org, target.app, target.stage, target.region


def test_org_app_stage_and_region_come_from_the_file_despite_cloudformation_tags(tmp_path: Path) -> None:
    assert read(write(tmp_path, SERVICE)) == ("acme", "shop", "staging", "eu-west-1")


def test_the_childs_stage_and_region_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, SERVICE)
    assert read(path, "serverless", "deploy", "--stage", "prod", "--region=us-west-2")[2:] == ("prod", "us-west-2")


def test_the_frameworks_short_flags_count_only_for_the_framework(tmp_path: Path) -> None:
    path = write(tmp_path, SERVICE)
    assert read(path, "npx", "sls", "deploy", "-s", "prod", "-r", "us-west-2")[2:] == ("prod", "us-west-2")
    assert read(path, "rsync", "-s", "prod")[2:] == ("staging", "eu-west-1")


@pytest.mark.parametrize(
    "launch",
    [
        ("npx", "--yes", "serverless"),
        ("npx", "-y", "sls"),
        ("npx", "serverless@3.38.0"),
        ("npm", "exec", "--yes", "serverless"),
        ("node", "--max-old-space-size=4096", "node_modules/serverless/bin/serverless.js"),
    ],
    ids=["npx-yes", "npx-y", "npx-version", "npm-exec", "node-script"],
)
def test_the_framework_is_recognised_behind_a_launchers_options(tmp_path: Path, launch: tuple[str, ...]) -> None:
    # Missed, its -s prod was not read: the target came from provider.stage (the staging
    # account's keys) while the Framework deployed stage prod.
    path = write(tmp_path, SERVICE)
    assert read(path, "--", *launch, "deploy", "-s", "prod", "-r", "us-west-2")[2:] == ("prod", "us-west-2")
    assert passes_aws_profile(["--", *launch, "deploy", "--aws-profile", "other"])


def test_another_command_behind_a_launcher_keeps_its_short_flags(tmp_path: Path) -> None:
    path = write(tmp_path, SERVICE)
    assert read(path, "npx", "--yes", "cowsay", "-s", "prod")[2:] == ("staging", "eu-west-1")


@pytest.mark.parametrize("separator", [(), ("--",)], ids=["bare", "after-separator"])
@pytest.mark.parametrize(
    "flags",
    [
        ("--stage", "prod", "--region", "us-west-2"),
        ("--stage=prod", "--region=us-west-2"),
        ("-s", "prod", "-r", "us-west-2"),
        ("-s=prod", "-r=us-west-2"),
        ("-s", "prod", "--region=us-west-2"),
    ],
    ids=["long", "long-equals", "short", "short-equals", "mixed"],
)
def test_the_childs_flags_are_read_the_same_with_or_without_the_separator(
    tmp_path: Path, separator: tuple[str, ...], flags: tuple[str, ...]
) -> None:
    # exec's argparse REMAINDER keeps the "--": the Framework's -s/-r were not recognised after it.
    path = write(tmp_path, SERVICE)
    assert read(path, *separator, "serverless", "deploy", *flags)[2:] == ("prod", "us-west-2")


def test_a_separator_does_not_hide_aws_profile_from_the_check() -> None:
    assert passes_aws_profile(["--", "serverless", "deploy", "--aws-profile", "other"])
    assert passes_aws_profile(["--", "sls", "deploy", "--aws-profile=other"])
    assert not passes_aws_profile(["--", "rsync", "--aws-profile", "x"])


def test_flags_given_to_sls_access_win_each_on_its_own(tmp_path: Path) -> None:
    path = write(tmp_path, SERVICE)
    assert read(path, "serverless", "deploy", "--stage", "prod", app="web") == ("acme", "web", "prod", "eu-west-1")


def test_stage_defaults_to_dev_and_region_to_none(tmp_path: Path) -> None:
    assert read(write(tmp_path, "org: acme\napp: shop\nprovider: {name: aws}\n")) == ("acme", "shop", "dev", None)


def test_custom_sls_access_names_org_and_app(tmp_path: Path) -> None:
    path = write(tmp_path, "service: s\ncustom:\n  slsAccess:\n    org: acme\n    app: shop\n")
    assert read(path)[:2] == ("acme", "shop")


def test_top_level_and_custom_names_that_differ_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "org: acme\napp: shop\ncustom: {slsAccess: {org: other}}\n")
    with pytest.raises(ConfigError, match=r"org and custom\.slsAccess\.org differ"):
        read(path)


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("org: ${env:ORG}\napp: shop\n", "--org"),
        ("org: acme\napp: ${self:custom.app}\n", "--app"),
        ("org: acme\napp: shop\nprovider: {stage: '${env:STAGE}'}\n", "--stage"),
        ("org: acme\napp: shop\nprovider: {region: '${ssm:/region}'}\n", "--region"),
    ],
)
def test_a_variable_in_a_value_in_use_asks_for_the_flag(tmp_path: Path, text: str, flag: str) -> None:
    with pytest.raises(ConfigError, match=f"is a variable .*pass {flag}"):
        read(write(tmp_path, text))


def test_a_variable_not_in_use_is_no_error(tmp_path: Path) -> None:
    path = write(tmp_path, "org: acme\napp: shop\nprovider: {stage: '${env:STAGE}'}\n")
    assert read(path, "serverless", "deploy", "--stage", "prod")[2] == "prod"


def test_an_opt_default_of_the_same_option_is_its_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "org: acme\napp: shop\nprovider:\n  stage: ${opt:stage, 'dev'}\n  region: ${opt:region, \"eu-west-1\"}\n",
    )
    assert read(path)[2:] == ("dev", "eu-west-1")
    assert read(path, "serverless", "deploy", "--stage", "prod")[2:] == ("prod", "eu-west-1")


def test_a_missing_org_names_both_places(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"names no org \(top-level org: or custom.slsAccess.org:\); pass --org"):
        read(write(tmp_path, "service: s\napp: shop\n"))


def test_the_stage_given_twice_differently_is_an_error() -> None:
    with pytest.raises(ConfigError, match="more than once"):
        child_option(["serverless", "deploy", "--stage", "prod", "--stage=dev"], "stage", "s")


def test_a_file_that_is_not_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"serverless.yml: not valid YAML at line 3: expected"):
        read(write(tmp_path, "org: acme\napp: [shop\n"))


def test_python_tags_are_not_constructed(tmp_path: Path) -> None:
    # The loader is a SafeLoader: a python tag is read as the plain value it tags.
    path = write(tmp_path, "org: !!python/object/apply:os.system ['true']\napp: shop\n")
    with pytest.raises(ConfigError):
        read(path)


def test_serverless_yaml_is_found_too_but_not_in_a_parent(tmp_path: Path) -> None:
    write(tmp_path, SERVICE, "serverless.yaml")
    child = tmp_path / "sub"
    child.mkdir()
    assert service_file(tmp_path) == tmp_path / "serverless.yaml"
    assert service_file(child) is None


# The CLI without target flags, in a service directory (the tests run in a temporary one).


def test_whoami_reads_the_target_from_serverless_yml(
    dashboard: Path, capsys: pytest.CaptureFixture[str], sts: StsProxy
) -> None:
    write(Path.cwd(), "org: acme\napp: shop\nprovider: {stage: prod, region: eu-west-1}\n")
    assert main(["whoami", "--json", "--dashboard", str(dashboard)]) == 0
    assert json.loads(capsys.readouterr().out)["Arn"] == EU_ASSUMED


def test_explain_reads_the_target_from_serverless_yml(dashboard: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(Path.cwd(), "org: acme\napp: shop\nprovider: {stage: prod}\n")
    assert main(["explain", "--json", "--dashboard", str(dashboard)]) == 0
    assert json.loads(capsys.readouterr().out)["target"] == {
        "org": "acme",
        "app": "shop",
        "stage": "prod",
        "region": None,
    }


def test_without_flags_or_serverless_yml_the_missing_flags_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["credentials", "--app", "shop"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "sls-access: error: the target needs --org --stage (or a serverless.yml in the current "
        "directory that names org and app)\n"
    )


def test_without_pyyaml_the_error_says_how_to_install_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stub for a fault this machine cannot produce: PyYAML is installed here.
    monkeypatch.setitem(sys.modules, "yaml", None)
    write(Path.cwd(), "org: acme\napp: shop\n")
    assert main(["credentials"]) == 2
    assert (
        "pip install '/path/to/sls-access[serverless]' (the path of your sls-access checkout), "
        "or pass --org/--app/--stage"
    ) in capsys.readouterr().err


def test_exec_takes_the_stage_and_region_from_the_command(dashboard: Path, sts: StsProxy) -> None:
    write(Path.cwd(), SERVICE)
    show = "import botocore.session as s; print(s.Session().create_client('sts').get_caller_identity()['Arn'])"
    argv = [
        sys.executable,
        "-m",
        "sls_access.cli",
        "exec",
        "--dashboard",
        str(dashboard),
        "--",
        sys.executable,
        "-c",
        show,
        "deploy",
        "--stage",
        "prod",
        "--region",
        "us-east-1",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == PROD_ASSUMED  # acme/shop/prod without the eu-west-1 of the file


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("9" * 5000, "holds a value too large to read"),  # past Python's int digit limit: was ValueError
        ("[" * 20000 + "]" * 20000, "nested too deeply to read"),  # was RecursionError
    ],
    ids=["huge-integer", "deep-nesting"],
)
def test_a_huge_or_deeply_nested_value_is_one_line_naming_the_file(
    dashboard: Path, capsys: pytest.CaptureFixture[str], value: str, problem: str
) -> None:
    path = write(Path.cwd(), f"org: acme\napp: shop\nprovider:\n  stage: {value}\n")
    assert main(["explain", "--offline", "--dashboard", str(dashboard)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"sls-access: error: {path}: {problem}")
