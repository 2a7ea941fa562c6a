"""The local AWS answers what CIS verdicts read as AWS does (moto_patches, issue 13 item 6).

Each test states one AWS behaviour that plain moto lacks (each fails with the patch left out) and
checks the local AWS has it: new buckets encrypted, blocked from the public and without ACLs;
DeleteBucketEncryption back to SSE-S3; Block Public Access refusing public policies and ACLs at
the bucket and the account level; GetBucketPolicyStatus by AWS's definition of public; MFA
delete kept and reported; EBS encryption by default encrypting new volumes; the account-level
instance metadata defaults, and new instances taking them. Plus the local endpoint routing of
S3 Control's account host label (qrie_local.endpoints).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from qrie_local import moto_patches
from qrie_local.endpoints import route_account_host
from tests.support import REGION

ACCOUNT = "123456789012"  # moto's default account
ROOT_MFA = f"arn:aws:iam::{ACCOUNT}:mfa/root-account-mfa-device 123456"


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    moto_patches.apply()
    with mock_aws():
        yield


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def public_read(bucket: str, **extra: Any) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        **extra,
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def error_code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


# ---- S3 -----------------------------------------------------------------------------------------
def test_a_new_bucket_is_encrypted_blocked_from_the_public_and_without_acls(aws: None) -> None:
    # GIVEN a bucket created with nothing else asked for
    s3().create_bucket(Bucket="fresh")
    # WHEN its settings are read
    encryption = s3().get_bucket_encryption(Bucket="fresh")["ServerSideEncryptionConfiguration"]
    block = s3().get_public_access_block(Bucket="fresh")["PublicAccessBlockConfiguration"]
    ownership = s3().get_bucket_ownership_controls(Bucket="fresh")["OwnershipControls"]
    # THEN they are S3's defaults since 2023: SSE-S3, all four settings on, ACLs disabled
    rule = encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] == "AES256"
    assert set(block.values()) == {True}
    assert len(block) == 4
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_deleting_default_encryption_goes_back_to_sse_s3(aws: None) -> None:
    # GIVEN a bucket encrypted with KMS by default
    s3().create_bucket(Bucket="kms-bucket")
    s3().put_bucket_encryption(
        Bucket="kms-bucket",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    # WHEN its default encryption is deleted
    s3().delete_bucket_encryption(Bucket="kms-bucket")
    # THEN it is SSE-S3 again, never none
    rules = s3().get_bucket_encryption(Bucket="kms-bucket")["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_block_public_policy_refuses_a_public_policy_at_the_bucket_level(aws: None) -> None:
    # GIVEN a new bucket (BlockPublicPolicy on)
    s3().create_bucket(Bucket="guarded")
    # WHEN a public policy is put / THEN S3 refuses it
    with pytest.raises(ClientError) as caught:
        s3().put_bucket_policy(Bucket="guarded", Policy=public_read("guarded"))
    assert error_code(caught) == "AccessDenied"
    # AND a policy that is not public is accepted (a restricting condition)
    restricted = public_read("guarded", Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}})
    s3().put_bucket_policy(Bucket="guarded", Policy=restricted)
    assert json.loads(s3().get_bucket_policy(Bucket="guarded")["Policy"]) == json.loads(restricted)


def test_block_public_policy_at_the_account_level_covers_every_bucket(aws: None) -> None:
    # GIVEN a bucket whose own Block Public Access is off, in an account that blocks public
    # policies
    s3().create_bucket(Bucket="open-by-itself")
    s3().delete_public_access_block(Bucket="open-by-itself")
    boto3.client("s3control", region_name=REGION).put_public_access_block(
        AccountId=ACCOUNT, PublicAccessBlockConfiguration={"BlockPublicPolicy": True}
    )
    # WHEN a public policy is put / THEN the account's setting refuses it
    with pytest.raises(ClientError) as caught:
        s3().put_bucket_policy(Bucket="open-by-itself", Policy=public_read("open-by-itself"))
    assert error_code(caught) == "AccessDenied"


def test_a_public_policy_is_accepted_with_block_public_access_off_everywhere(aws: None) -> None:
    # GIVEN a bucket with Block Public Access off, in an account without it
    s3().create_bucket(Bucket="site")
    s3().delete_public_access_block(Bucket="site")
    # WHEN a public policy is put
    s3().put_bucket_policy(Bucket="site", Policy=public_read("site"))
    # THEN it holds, and GetBucketPolicyStatus calls it public
    assert s3().get_bucket_policy_status(Bucket="site")["PolicyStatus"]["IsPublic"] is True


def test_policy_status_judges_conditions_as_aws_does(aws: None) -> None:
    # GIVEN a public grant carrying a condition that does not restrict who may call
    # (moto alone calls any statement with a Condition private)
    s3().create_bucket(Bucket="tls-but-public")
    s3().delete_public_access_block(Bucket="tls-but-public")
    policy = public_read("tls-but-public", Condition={"Bool": {"aws:SecureTransport": "true"}})
    s3().put_bucket_policy(Bucket="tls-but-public", Policy=policy)
    # WHEN its status is asked / THEN it is public
    status = s3().get_bucket_policy_status(Bucket="tls-but-public")["PolicyStatus"]
    assert status["IsPublic"] is True


def test_acls_are_refused_while_disabled_and_public_ones_while_blocked(aws: None) -> None:
    # GIVEN a new bucket (ACLs disabled, BlockPublicAcls on)
    s3().create_bucket(Bucket="modern")
    # WHEN a public-read ACL is put / THEN S3 refuses ACLs on the bucket
    with pytest.raises(ClientError) as caught:
        s3().put_bucket_acl(Bucket="modern", ACL="public-read")
    assert error_code(caught) == "AccessControlListNotSupported"
    # AND with ACLs enabled, BlockPublicAcls still refuses the public one
    s3().put_bucket_ownership_controls(
        Bucket="modern", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    with pytest.raises(ClientError) as caught:
        s3().put_bucket_acl(Bucket="modern", ACL="public-read")
    assert error_code(caught) == "AccessDenied"
    # AND with Block Public Access off it is kept
    s3().delete_public_access_block(Bucket="modern")
    s3().put_bucket_acl(Bucket="modern", ACL="public-read")
    grantees = [g["Grantee"].get("URI") for g in s3().get_bucket_acl(Bucket="modern")["Grants"]]
    assert "http://acs.amazonaws.com/groups/global/AllUsers" in grantees


def test_mfa_delete_is_kept_and_reported(aws: None) -> None:
    # GIVEN a bucket whose versioning and MFA delete are enabled with the MFA code
    s3().create_bucket(Bucket="vault")
    s3().put_bucket_versioning(
        Bucket="vault",
        VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
        MFA=ROOT_MFA,
    )
    # WHEN its versioning is read / THEN MFA delete is reported enabled
    answer = s3().get_bucket_versioning(Bucket="vault")
    assert (answer["Status"], answer["MFADelete"]) == ("Enabled", "Enabled")


def test_mfa_delete_changes_need_the_mfa_code(aws: None) -> None:
    # GIVEN a bucket
    s3().create_bucket(Bucket="no-code")
    # WHEN MFA delete is enabled without the x-amz-mfa header / THEN S3 refuses
    with pytest.raises(ClientError) as caught:
        s3().put_bucket_versioning(
            Bucket="no-code",
            VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
        )
    assert error_code(caught) == "AccessDenied"
    assert "MFADelete" not in s3().get_bucket_versioning(Bucket="no-code")
    # AND once it is on, suspending versioning needs the code too
    s3().put_bucket_versioning(
        Bucket="no-code",
        VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
        MFA=ROOT_MFA,
    )
    with pytest.raises(ClientError):
        s3().put_bucket_versioning(
            Bucket="no-code", VersioningConfiguration={"Status": "Suspended"}
        )
    assert s3().get_bucket_versioning(Bucket="no-code")["Status"] == "Enabled"


# ---- EC2 ----------------------------------------------------------------------------------------
def test_ebs_encryption_by_default_encrypts_new_volumes(aws: None) -> None:
    # GIVEN EBS encryption by default turned on in the region
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.enable_ebs_encryption_by_default()
    # WHEN a volume is created asking for none, and an instance with its root volume
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, Encrypted=False)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    # THEN both are encrypted, as EC2 does
    assert volume["Encrypted"] is True
    root = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}]
    )["Volumes"]
    assert [v["Encrypted"] for v in root] == [True]


def test_volumes_stay_unencrypted_without_the_default(aws: None) -> None:
    # GIVEN the region's default off / WHEN a volume is created plainly / THEN it is not
    ec2 = boto3.client("ec2", region_name=REGION)
    assert ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["Encrypted"] is False


def test_instance_metadata_defaults_are_kept_and_applied(aws: None) -> None:
    # GIVEN IMDSv2 required by default in the region
    ec2 = boto3.client("ec2", region_name=REGION)
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {}
    ec2.modify_instance_metadata_defaults(HttpTokens="required", HttpPutResponseHopLimit=2)
    # WHEN the defaults are read, and instances launched with and without their own options
    level = ec2.get_instance_metadata_defaults()["AccountLevel"]
    plain = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    explicit = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        MetadataOptions={"HttpTokens": "optional"},
    )["Instances"][0]
    # THEN the defaults hold, a plain launch takes them and the request's own options win
    assert level == {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}
    assert plain["MetadataOptions"]["HttpTokens"] == "required"
    assert explicit["MetadataOptions"]["HttpTokens"] == "optional"
    # AND "no-preference" clears a default
    ec2.modify_instance_metadata_defaults(HttpTokens="no-preference")
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {"HttpPutResponseHopLimit": 2}


# ---- S3 Control's host on the loopback ----------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "routed"),
    [
        (
            "http://123456789012.127.0.0.1:4566/v20180820/configuration/publicAccessBlock",
            "http://127.0.0.1:4566/v20180820/configuration/publicAccessBlock",
        ),
        ("http://123456789012.localhost:80/x", "http://localhost:80/x"),
        (
            "https://123456789012.s3-control.us-east-1.amazonaws.com/v20180820/x",
            "https://123456789012.s3-control.us-east-1.amazonaws.com/v20180820/x",
        ),
        ("http://127.0.0.1:4566/x", "http://127.0.0.1:4566/x"),
        ("http://12345.127.0.0.1:4566/x", "http://12345.127.0.0.1:4566/x"),
    ],
)
def test_s3_control_account_label_is_dropped_only_on_the_loopback(url: str, routed: str) -> None:
    # GIVEN an S3 Control URL / WHEN routed for the local AWS / THEN only a 12-digit account
    # label in front of a loopback host goes; AWS's own host names are untouched
    assert route_account_host(url) == routed
