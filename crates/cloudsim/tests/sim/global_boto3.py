"""boto3 against cloudsim's ElastiCache Global Datastore, as a user's script would drive it, with the
data checked over TLS on each member's endpoint.

Run by tests/sim/global.rs with CLOUDSIM_URL, CLOUDSIM_CA (the simulator's CA certificate) and AWS
credentials in the environment; exits non-zero (with the failing assertion) when the simulator
answers otherwise than the service.
"""

import json
import os
import socket
import ssl
import time

import boto3
from botocore.exceptions import ClientError

URL = os.environ["CLOUDSIM_URL"]
TLS = ssl.create_default_context(cafile=os.environ["CLOUDSIM_CA"])
east = boto3.client("elasticache", endpoint_url=URL, region_name="us-east-1")
west = boto3.client("elasticache", endpoint_url=URL, region_name="us-west-2")
READONLY = "-READONLY You can't write against a read only replica."


def command(port, *args):
    """One command over TLS; the reply's first line (a bulk string's payload)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with TLS.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            out = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
            s.sendall(out.encode())
            f = s.makefile("rb")
            reply = f.readline().decode().rstrip("\r\n")
            if reply.startswith("$") and reply != "$-1":
                return f.readline().decode().rstrip("\r\n")
            return reply


def eventually(what, check):
    deadline = time.time() + 20
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def group(gid):
    return east.describe_global_replication_groups(GlobalReplicationGroupId=gid, ShowMemberInfo=True)[
        "GlobalReplicationGroups"
    ][0]


def settled(gid, status):
    def check():
        g = group(gid)
        return g if g["Status"] == status and all(m["Status"] == "associated" for m in g["Members"]) else None

    return eventually(f"{gid} {status}", check)


def available(client, rg):
    def check():
        r = client.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
        return r if r["Status"] == "available" else None

    return eventually(f"{rg} available", check)


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded with {kwargs}")


def port(rg):
    return rg["NodeGroups"][0]["PrimaryEndpoint"]["Port"]


# A primary with cluster mode disabled, TLS and a replica, in us-east-1.
east.create_replication_group(
    ReplicationGroupId="sessions",
    ReplicationGroupDescription="sessions",
    Engine="valkey",
    EngineVersion="8.0",
    CacheNodeType="cache.r7g.large",
    NumCacheClusters=2,
    AutomaticFailoverEnabled=True,
    TransitEncryptionEnabled=True,
)
primary_port = port(available(east, "sessions"))

created = east.create_global_replication_group(
    GlobalReplicationGroupIdSuffix="sessions", PrimaryReplicationGroupId="sessions"
)["GlobalReplicationGroup"]
gid = created["GlobalReplicationGroupId"]
assert gid == "ldgnf-sessions", created
assert created["Status"] == "creating", created
assert "GlobalNodeGroups" not in created and created["ClusterEnabled"] is False, created
g = settled(gid, "primary-only")
assert [(m["ReplicationGroupId"], m["Role"]) for m in g["Members"]] == [("sessions", "PRIMARY")], g
# Without ShowMemberInfo the members are left out.
plain = east.describe_global_replication_groups(GlobalReplicationGroupId=gid)["GlobalReplicationGroups"][0]
assert "Members" not in plain, plain

# A failover needs a secondary.
code = error_code(
    east.failover_global_replication_group,
    GlobalReplicationGroupId=gid,
    PrimaryRegion="us-east-1",
    PrimaryReplicationGroupId="sessions",
)
assert code == "InvalidGlobalReplicationGroupState", code

# The secondary in us-west-2: TLS and the engine come from the primary.
code = error_code(
    west.create_replication_group,
    ReplicationGroupId="sessions-west",
    ReplicationGroupDescription="sessions west",
    GlobalReplicationGroupId=gid,
    TransitEncryptionEnabled=True,
)
assert code == "InvalidParameterCombination", code
west.create_replication_group(
    ReplicationGroupId="sessions-west",
    ReplicationGroupDescription="sessions west",
    GlobalReplicationGroupId=gid,
)
settled(gid, "available")
w = available(west, "sessions-west")
assert w["GlobalReplicationGroupInfo"] == {
    "GlobalReplicationGroupId": gid,
    "GlobalReplicationGroupMemberRole": "SECONDARY",
}, w
assert w["TransitEncryptionEnabled"] is True and len(w["MemberClusters"]) == 2, w
secondary_port = port(w)

# A key written to the primary is read from the secondary, which takes no writes.
assert command(primary_port, "SET", "session:1", "alice") == "+OK"
eventually("the key in us-west-2", lambda: command(secondary_port, "GET", "session:1") == "alice")
assert command(secondary_port, "SET", "session:2", "bob") == READONLY

# One field per modify.
code = error_code(
    east.modify_global_replication_group,
    GlobalReplicationGroupId=gid,
    ApplyImmediately=True,
    AutomaticFailoverEnabled=False,
    GlobalReplicationGroupDescription="x",
)
assert code == "InvalidParameterCombination", code

# Failover to us-west-2, then a write there reads back in us-east-1.
out = west.failover_global_replication_group(
    GlobalReplicationGroupId=gid, PrimaryRegion="us-west-2", PrimaryReplicationGroupId="sessions-west"
)["GlobalReplicationGroup"]
assert out["Status"] == "modifying", out
g = settled(gid, "available")
assert {m["ReplicationGroupRegion"]: m["Role"] for m in g["Members"]} == {
    "us-east-1": "SECONDARY",
    "us-west-2": "PRIMARY",
}, g
assert command(secondary_port, "SET", "session:2", "bob") == "+OK"
eventually("the write of us-west-2 in us-east-1", lambda: command(primary_port, "GET", "session:2") == "bob")
assert command(primary_port, "GET", "session:1") == "alice"
assert command(primary_port, "SET", "session:3", "carol") == READONLY

# Delete in order: not the member, not the global datastore with a secondary.
code = error_code(west.delete_replication_group, ReplicationGroupId="sessions-west")
assert code == "InvalidParameterValue", code
code = error_code(east.delete_global_replication_group, GlobalReplicationGroupId=gid, RetainPrimaryReplicationGroup=True)
assert code == "InvalidGlobalReplicationGroupState", code
west.disassociate_global_replication_group(
    GlobalReplicationGroupId=gid, ReplicationGroupId="sessions", ReplicationGroupRegion="us-east-1"
)
settled(gid, "primary-only")
assert "GlobalReplicationGroupInfo" not in available(east, "sessions")
assert command(primary_port, "SET", "session:3", "carol") == "+OK"
west.delete_global_replication_group(GlobalReplicationGroupId=gid, RetainPrimaryReplicationGroup=True)


def gone():
    try:
        group(gid)
    except ClientError as e:
        return e.response["Error"]["Code"] == "GlobalReplicationGroupNotFoundFault"
    return False


eventually(f"{gid} deleted", gone)
west.delete_replication_group(ReplicationGroupId="sessions-west")
east.delete_replication_group(ReplicationGroupId="sessions")
print(json.dumps({"ok": True}))
