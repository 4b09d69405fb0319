"""Transform a SAM template into the CloudFormation template that AWS deploys, as `sam deploy` has it transformed.

Runs with the Python of the aws-sam-cli tool (it imports aws-sam-translator, which the project cannot install
beside its own pydantic). Code locations become S3 URIs, as `sam package` makes them; parameters without a
default get example values of their form. Usage: sam_transform.py TEMPLATE OUTPUT.json
"""

import json
import sys
from pathlib import Path

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

REGION = "us-east-1"
EXAMPLE_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:leaim/example-AbCdEf"


def main(template_path: str, output_path: str) -> None:
    template = yaml_parse(Path(template_path).read_text(encoding="utf-8"))
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://leaim-artifacts/{logical_id}.zip"
    parameters = {
        name: EXAMPLE_SECRET_ARN
        for name, parameter in (template.get("Parameters") or {}).items()
        if "Default" not in parameter
    }
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    # No managed policy is named by its bare name in the template: the map of names to ARNs stays empty.
    transformed = translator.translate(template, parameter_values=parameters, get_managed_policy_map=dict)
    Path(output_path).write_text(json.dumps(transformed, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
