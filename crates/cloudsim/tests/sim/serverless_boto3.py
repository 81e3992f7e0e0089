"""boto3 against cloudsim's ElastiCache Serverless API, as a user's script would drive it.

Run by tests/sim/serverless.rs with CLOUDSIM_URL and AWS credentials in the environment; exits
non-zero (with the failing assertion) when the simulator answers otherwise than the service.
"""

import json
import os
import time

import boto3
from botocore.exceptions import ClientError

URL = os.environ["CLOUDSIM_URL"]
ec = boto3.client("elasticache", endpoint_url=URL, region_name="us-east-1")


def wait(name, status):
    deadline = time.time() + 20
    while time.time() < deadline:
        c = ec.describe_serverless_caches(ServerlessCacheName=name)["ServerlessCaches"][0]
        if c["Status"] == status:
            return c
        time.sleep(0.05)
    raise AssertionError(f"{name} never became {status}")


def wait_snapshot(name, status="available"):
    deadline = time.time() + 20
    while time.time() < deadline:
        s = ec.describe_serverless_cache_snapshots(ServerlessCacheSnapshotName=name)
        s = s["ServerlessCacheSnapshots"][0]
        if s["Status"] == status:
            return s
        time.sleep(0.05)
    raise AssertionError(f"snapshot {name} never became {status}")


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError(f"{call.__name__} succeeded with {kwargs}")


# Create: the answer is `creating`, without endpoints yet.
created = ec.create_serverless_cache(
    ServerlessCacheName="Orders",
    Engine="redis",
    MajorEngineVersion="7",
    Description="orders",
    CacheUsageLimits={
        "DataStorage": {"Minimum": 1, "Maximum": 10, "Unit": "GB"},
        "ECPUPerSecond": {"Minimum": 1000, "Maximum": 5000},
    },
    SecurityGroupIds=["sg-0123"],
    SubnetIds=["subnet-a", "subnet-b"],
    SnapshotRetentionLimit=3,
    DailySnapshotTime="04:00",
    Tags=[{"Key": "team", "Value": "payments"}],
)["ServerlessCache"]
assert created["ServerlessCacheName"] == "orders", created
assert created["Status"] == "creating", created
assert "Endpoint" not in created, created
assert created["ARN"] == "arn:aws:elasticache:us-east-1:123456789012:serverlesscache:orders"

c = wait("orders", "available")
assert (c["Engine"], c["MajorEngineVersion"], c["FullEngineVersion"]) == ("redis", "7", "7.1"), c
assert c["CacheUsageLimits"] == {
    "DataStorage": {"Maximum": 10, "Minimum": 1, "Unit": "GB"},
    "ECPUPerSecond": {"Maximum": 5000, "Minimum": 1000},
}, c
# Without Redis behind it the cache reports the service's ports: 6379 and the reader's 6380.
assert c["Endpoint"]["Port"] == 6379 and c["ReaderEndpoint"]["Port"] == 6380, c
assert c["Endpoint"]["Address"].endswith(".serverless.use1.cache.amazonaws.com"), c
assert c["SecurityGroupIds"] == ["sg-0123"] and c["SubnetIds"] == ["subnet-a", "subnet-b"], c
assert (c["SnapshotRetentionLimit"], c["DailySnapshotTime"]) == (3, "04:00"), c
assert isinstance(c["CreateTime"].year, int)

code, _ = error_code(ec.create_serverless_cache, ServerlessCacheName="orders", Engine="redis")
assert code == "ServerlessCacheAlreadyExistsFault", code
for limits in [
    {"DataStorage": {"Maximum": 5001, "Unit": "GB"}},
    {"ECPUPerSecond": {"Maximum": 999}},
    {"ECPUPerSecond": {"Minimum": 15000001}},
]:
    code, _ = error_code(
        ec.create_serverless_cache, ServerlessCacheName="x", Engine="valkey", CacheUsageLimits=limits
    )
    assert code == "InvalidParameterValue", (limits, code)
code, _ = error_code(
    ec.create_serverless_cache,
    ServerlessCacheName="x",
    Engine="valkey",
    CacheUsageLimits={"ECPUPerSecond": {"Minimum": 9000, "Maximum": 5000}},
)
assert code == "InvalidParameterCombination", code
code, _ = error_code(ec.describe_serverless_caches, ServerlessCacheName="nope")
assert code == "ServerlessCacheNotFoundFault", code

# One field per modify: two fields are refused with the service's code, each alone is accepted.
code, message = error_code(
    ec.modify_serverless_cache,
    ServerlessCacheName="orders",
    Description="new",
    SnapshotRetentionLimit=5,
)
assert code == "InvalidParameterCombination", code
assert message == "Serverless Cache modifications only support modifying one field per request.", message
m = ec.modify_serverless_cache(ServerlessCacheName="orders", Description="new")["ServerlessCache"]
assert m["Status"] == "modifying", m
code, _ = error_code(ec.modify_serverless_cache, ServerlessCacheName="orders", SnapshotRetentionLimit=5)
assert code == "InvalidServerlessCacheStateFault", code
assert wait("orders", "available")["Description"] == "new"
ec.modify_serverless_cache(
    ServerlessCacheName="orders",
    CacheUsageLimits={"DataStorage": {"Maximum": 20, "Unit": "GB"}, "ECPUPerSecond": {"Maximum": 9000}},
)
c = wait("orders", "available")
assert c["CacheUsageLimits"]["DataStorage"] == {"Maximum": 20, "Unit": "GB"}, c
ec.modify_serverless_cache(ServerlessCacheName="orders", Engine="valkey", MajorEngineVersion="8")
c = wait("orders", "available")
assert (c["Engine"], c["MajorEngineVersion"], c["FullEngineVersion"]) == ("valkey", "8", "8.2"), c
code, _ = error_code(
    ec.modify_serverless_cache, ServerlessCacheName="orders", Engine="redis", MajorEngineVersion="7"
)
assert code == "InvalidParameterCombination", code

# Tags through the cache's ARN.
arn = c["ARN"]
assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "team", "Value": "payments"}]
ec.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "env", "Value": "prod"}])
ec.remove_tags_from_resource(ResourceName=arn, TagKeys=["team"])
assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "env", "Value": "prod"}]

# Paging is MaxResults/NextToken; boto3's paginator follows it.
for i in range(3):
    ec.create_serverless_cache(ServerlessCacheName=f"page-{i}", Engine="valkey")
first = ec.describe_serverless_caches(MaxResults=2)
assert len(first["ServerlessCaches"]) == 2 and "NextToken" in first, first
names = [
    c["ServerlessCacheName"]
    for page in ec.get_paginator("describe_serverless_caches").paginate(PaginationConfig={"PageSize": 1})
    for c in page["ServerlessCaches"]
]
assert names == ["orders", "page-0", "page-1", "page-2"], names

# Snapshots: create, copy, export, describe, delete.
s = ec.create_serverless_cache_snapshot(
    ServerlessCacheSnapshotName="Orders-Manual",
    ServerlessCacheName="orders",
    Tags=[{"Key": "kind", "Value": "manual"}],
)["ServerlessCacheSnapshot"]
assert (s["ServerlessCacheSnapshotName"], s["Status"], s["SnapshotType"]) == ("orders-manual", "creating", "manual"), s
assert s["ServerlessCacheConfiguration"] == {
    "ServerlessCacheName": "orders",
    "Engine": "valkey",
    "MajorEngineVersion": "8",
}, s
assert s["ARN"] == "arn:aws:elasticache:us-east-1:123456789012:serverlesscachesnapshot:orders-manual"
manual = wait_snapshot("orders-manual")
tags = ec.list_tags_for_resource(ResourceName=manual["ARN"])["TagList"]
assert tags == [{"Key": "kind", "Value": "manual"}], tags
code, _ = error_code(
    ec.create_serverless_cache_snapshot, ServerlessCacheSnapshotName="orders-manual", ServerlessCacheName="orders"
)
assert code == "ServerlessCacheSnapshotAlreadyExistsFault", code
ec.copy_serverless_cache_snapshot(
    SourceServerlessCacheSnapshotName="orders-manual", TargetServerlessCacheSnapshotName="orders-copy"
)
wait_snapshot("orders-copy")
ec.export_serverless_cache_snapshot(ServerlessCacheSnapshotName="orders-copy", S3BucketName="exports")
snaps = ec.describe_serverless_cache_snapshots(ServerlessCacheName="orders", MaxResults=1)
assert len(snaps["ServerlessCacheSnapshots"]) == 1 and "NextToken" in snaps, snaps
code, _ = error_code(ec.describe_serverless_cache_snapshots, MaxResults=51)
assert code == "InvalidParameterValue", code
ec.delete_serverless_cache_snapshot(ServerlessCacheSnapshotName="orders-copy")
code, _ = error_code(ec.describe_serverless_cache_snapshots, ServerlessCacheSnapshotName="missing")
assert code == "ServerlessCacheSnapshotNotFoundFault", code

# Delete with a final snapshot; restore a new cache from it. A taken name leaves the cache alone.
code, _ = error_code(ec.delete_serverless_cache, ServerlessCacheName="orders", FinalSnapshotName="orders-manual")
assert code == "ServerlessCacheSnapshotAlreadyExistsFault", code
assert wait("orders", "available")
d = ec.delete_serverless_cache(ServerlessCacheName="orders", FinalSnapshotName="orders-final")
assert d["ServerlessCache"]["Status"] == "deleting", d
final = wait_snapshot("orders-final")
deadline = time.time() + 20
while True:
    try:
        ec.describe_serverless_caches(ServerlessCacheName="orders")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ServerlessCacheNotFoundFault"
        break
    assert time.time() < deadline, "orders was never deleted"
    time.sleep(0.05)
ec.create_serverless_cache(
    ServerlessCacheName="orders-restored", Engine="valkey", SnapshotArnsToRestore=[final["ARN"]]
)
wait("orders-restored", "available")
print(json.dumps({"ok": True}))
