"""deploy/aws/lookslike.yaml: the user data it carries is deploy/aws/user-data.sh with every setting the script
needs, and the network and IAM rules are as narrow as docs/deploy-ec2.md says. (`make lint-deploy` runs
cfn-lint and shellcheck.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT

AWS = os.path.join(ROOT, "deploy", "aws")


class TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref X -> {"Ref": X}, !Sub s -> {"Fn::Sub": s}, ...)."""


def _short_form(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


TemplateLoader.add_multi_constructor("!", _short_form)


@pytest.fixture(scope="module")
def template() -> dict:
    with open(os.path.join(AWS, "lookslike.yaml"), encoding="utf-8") as f:
        return yaml.load(f, Loader=TemplateLoader)


@pytest.fixture(scope="module")
def resources(template) -> dict:
    return template["Resources"]


def user_data_parts(resources) -> tuple[str, str, str]:
    """(shebang, the parameters' export lines, the script) of the launch template's UserData."""
    joined = resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Join"]
    assert joined[0] == ""
    shebang, settings, script = joined[1]
    return shebang, settings["Fn::Sub"][0], script


def test_user_data_is_the_script_after_the_settings(resources):
    shebang, settings, script = user_data_parts(resources)
    with open(os.path.join(AWS, "user-data.sh"), encoding="utf-8") as f:
        source = f.read()
    assert shebang + script == source
    exported = set(re.findall(r"^export ([A-Z_0-9]+)=", settings, re.M))
    required = set(re.findall(r'"\$\{([A-Z_0-9]+)[:?]', source))
    assert required and required <= exported, f"the template does not set {required - exported}"
    assert {"STACK_NAME", "SIGNAL_RESOURCE"} <= exported
    assert "export SIGNAL_RESOURCE='AutoScalingGroup'" in settings  # the logical id cfn-signal reports to
    result = subprocess.run(["bash", "-n"], input=shebang + settings + script, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_user_data_fits_ec2s_limit(resources):
    # EC2 refuses user data over 16 KB before base64; the parameters' values add a few hundred bytes.
    shebang, settings, script = user_data_parts(resources)
    assert len((shebang + settings + script).encode()) < 14 * 1024


def test_an_unknown_argument_stops_the_script_before_anything_runs():
    result = subprocess.run(["bash", os.path.join(AWS, "user-data.sh"), "--start"], capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"]})
    assert result.returncode == 2 and "unknown argument '--start'" in result.stdout


def test_render_check_passes_and_catches_a_stale_copy(tmp_path):
    ok = subprocess.run([sys.executable, os.path.join(AWS, "render.py"), "--check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    copy = tmp_path / "aws"
    shutil.copytree(AWS, copy)
    with open(copy / "user-data.sh", "a", encoding="utf-8") as f:
        f.write("echo one more line\n")
    stale = subprocess.run([sys.executable, str(copy / "render.py"), "--check"], capture_output=True, text=True)
    assert stale.returncode == 1 and "make deploy-template" in stale.stderr
    subprocess.run([sys.executable, str(copy / "render.py")], check=True, capture_output=True)
    again = subprocess.run([sys.executable, str(copy / "render.py"), "--check"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert (copy / "lookslike.yaml").read_text().count("echo one more line") == 1


def test_settings_reach_the_container_as_lookslike_variables():
    with open(os.path.join(AWS, "user-data.sh"), encoding="utf-8") as f:
        source = f.read()
    for line in ("LOOKSLIKE_GALLERY_URL=$GALLERY_URL", "LOOKSLIKE_GALLERY_SHA256=$GALLERY_SHA256",
                 "LOOKSLIKE_RATE_LIMIT_STORAGE_URI=$RATE_LIMIT_STORAGE_URI", "LOOKSLIKE_TRUSTED_PROXIES=1"):
        assert f"\n{line}\n" in source
    assert "--log-driver awslogs" in source


def test_only_443_on_the_balancer_and_8000_from_it(resources):
    balancer = resources["LoadBalancerSecurityGroup"]["Properties"]
    ports = {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in balancer["SecurityGroupIngress"]}
    assert ports == {("tcp", 443, 443)}
    assert [(r["FromPort"], r["DestinationSecurityGroupId"]) for r in balancer["SecurityGroupEgress"]] == [
        (8000, {"Ref": "InstanceSecurityGroup"})]
    assert "SecurityGroupIngress" not in resources["InstanceSecurityGroup"]["Properties"]
    ingress = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"]
    assert ingress == [{"GroupId": {"Ref": "InstanceSecurityGroup"}, "IpProtocol": "tcp", "FromPort": 8000,
                        "ToPort": 8000, "SourceSecurityGroupId": {"Ref": "LoadBalancerSecurityGroup"},
                        "Description": "gunicorn, from the load balancer"}]
    redis = resources["RedisSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in redis] == [(6379, {"Ref": "InstanceSecurityGroup"})]


def test_instances_read_only_the_gallery_bucket(resources):
    statements = resources["InstanceRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    s3 = [s["Fn::If"][1] for s in statements if "Fn::If" in s and str(s["Fn::If"][1]["Action"]).startswith("s3:")]
    assert s3 == [{"Sid": "ReadGalleries", "Effect": "Allow", "Action": "s3:GetObject",
                   "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${GalleryBucket}/*"}}]
    actions = []
    for statement in statements:
        action = (statement["Fn::If"][1] if "Fn::If" in statement else statement)["Action"]
        actions += action if isinstance(action, list) else [action]
    assert len(actions) == 6 and not [a for a in actions if a.endswith("*")]


def test_https_with_the_certificate_and_readyz_health_checks(resources):
    listener = resources["HttpsListener"]["Properties"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTPS", 443)
    assert listener["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    target = resources["TargetGroup"]["Properties"]
    assert (target["Port"], target["HealthCheckPath"], target["Matcher"]) == (8000, "/readyz", {"HttpCode": "200"})
    assert [r for r in resources.values() if r["Type"] == "AWS::ElasticLoadBalancingV2::Listener"] == [
        resources["HttpsListener"]]


def test_two_zones_and_redis_from_the_stack_or_a_parameter(template, resources):
    group = resources["AutoScalingGroup"]
    assert group["Properties"]["VPCZoneIdentifier"] == {
        "Fn::If": ["HasInstanceSubnets", {"Ref": "InstanceSubnets"}, {"Ref": "Subnets"}]}
    assert group["Properties"]["HealthCheckType"] == "ELB"
    assert group["UpdatePolicy"]["AutoScalingRollingUpdate"]["WaitOnResourceSignals"] is True
    assert template["Conditions"]["CreateRedis"] == {"Fn::Equals": [{"Ref": "ExistingRedisUrl"}, ""]}
    assert all(resources[name]["Condition"] == "CreateRedis"
               for name in ("Redis", "RedisSubnetGroup", "RedisSecurityGroup"))
    assert template["Parameters"]["ExistingRedisUrl"]["NoEcho"] is True
