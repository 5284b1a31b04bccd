"""Calls grpc.health.v1.Health/Check with the Python grpcio client, without and with a
bearer token; prints the outcomes as JSON (driven by tests/examples/tonic.rs).

Usage: health_check_client.py HOST:PORT TOKEN
"""
import json
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

address, token = sys.argv[1], sys.argv[2]
out = {}
with grpc.insecure_channel(address) as channel:
    stub = health_pb2_grpc.HealthStub(channel)
    for name, metadata in [("without", None), ("with", [("authorization", f"Bearer {token}")])]:
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), metadata=metadata, timeout=10)
            out[name] = {"status": health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}
        except grpc.RpcError as e:
            out[name] = {"code": e.code().name, "details": e.details()}
print(json.dumps(out))
