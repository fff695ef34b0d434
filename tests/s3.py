"""A real S3-compatible server on loopback for the test run: moto in server mode (MinIO is not
in the package registries here), reached only through the AWS SDK over HTTP, as production is."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import boto3
from botocore.config import Config

REGION = "us-east-1"
KEY_ID, SECRET = "test-key-id", "test-secret"  # moto accepts any; the SDK signs with them


@dataclass
class S3Server:
    endpoint: str
    _server: object

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=KEY_ID,
                            aws_secret_access_key=SECRET, config=Config(signature_version="s3v4"))

    def new_bucket(self) -> str:
        name = f"broker-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, bucket: str, **more: str) -> dict[str, str]:
        """The broker's settings for `bucket` on this server."""
        return {"BROKER_S3_ENDPOINT": self.endpoint, "BROKER_S3_BUCKET": bucket, "BROKER_S3_REGION": REGION,
                "BROKER_S3_ACCESS_KEY_ID": KEY_ID, "BROKER_S3_SECRET_ACCESS_KEY": SECRET, **more}

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def stop(self) -> None:
        self._server.stop()


def start() -> S3Server:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3Server(f"http://{host}:{port}", server)
