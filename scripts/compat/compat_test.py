#!/usr/bin/env python3
"""AWS SDK compatibility: the real AWS SDK for Python (boto3) and the AWS CLI against a real
`fleetward serve`, with devices reporting through the embedded broker over mutual TLS.

The scenario is the one an operator migrating from AWS runs: a thing group and things with
certificates from CreateKeysAndCertificate, a custom metric, a security profile with a static,
a statistical and a custom-metric behavior attached to the group, device reports that violate
all three on one device, the violations read back (ListActiveViolations, ListViolationEvents,
ListMetricValues) and a verification state set on one of them. Nothing is mocked: the server is
the built binary, the client is botocore with its own `iot` model and SigV4 signer, and the
devices speak MQTT 3.1.1 over TLS with their issued certificates.

Run it with scripts/compat.sh, which builds the binary, creates the virtualenv and sets
FLEETWARD_BIN. Every missing piece is an error, never a skip.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3
import botocore.config
import botocore.exceptions
import paho.mqtt.client as mqtt

REGION = "us-east-1"
ACCOUNT = "000000000000"
# Time runs this many times faster in the server under test: the 300 s statistical window of
# the profile below becomes 5 s, so the test waits seconds, not minutes.
TIME_SCALE = 60
WINDOW_S = 300 / TIME_SCALE
GROUP = "compat-fleet"
THINGS = ["compat-cam-1", "compat-cam-2", "compat-cam-3"]
OUTLIER = THINGS[0]
PROFILE = "compat-profile"
CUSTOM_METRIC = "compat-temperature"
DEADLINE_S = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=DEADLINE_S, interval=0.5):
    """Polls `check` until it returns something truthy; fails the test with `what` otherwise."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = check()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - remember why, report it at the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last result: {last!r}")


class Server:
    """A `fleetward serve` child process on free loopback ports with a temporary data dir."""

    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="fleetward-compat-")
        self.data = os.path.join(self.dir, "data")
        self.mqtt_port = free_port()
        self.http_port = free_port()
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [
                binary,
                "serve",
                "--data-dir", self.data,
                "--mqtt-listen", f"127.0.0.1:{self.mqtt_port}",
                "--http-listen", f"127.0.0.1:{self.http_port}",
                "--min-report-interval", "0",
                "--time-scale", str(TIME_SCALE),
                "--region", REGION,
                "--account", ACCOUNT,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")},
        )
        self.endpoint = f"http://127.0.0.1:{self.http_port}"
        wait_for("the server's /healthz", self._healthy, timeout=60)
        key_file = os.path.join(self.data, "admin-key.json")
        with open(key_file) as f:
            key = json.load(f)
        mode = os.stat(key_file).st_mode & 0o777
        if mode != 0o600:
            raise AssertionError(f"{key_file} has mode {oct(mode)}, expected 0600")
        self.access_key = key["aws_access_key_id"]
        self.secret_key = key["aws_secret_access_key"]
        self.ca_path = os.path.join(self.data, "ca", "ca.pem")

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"fleetward serve exited with {self.proc.returncode}:\n{self.logs()}")
        with urllib.request.urlopen(self.endpoint + "/healthz", timeout=2) as r:
            return r.status == 200

    def logs(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()[-8000:]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Device:
    """One thing: MQTT over mutual TLS with the certificate CreateKeysAndCertificate issued."""

    def __init__(self, server, thing, cert_pem, key_pem, workdir):
        self.thing = thing
        cert = os.path.join(workdir, f"{thing}.pem")
        key = os.path.join(workdir, f"{thing}.key")
        with open(cert, "w") as f:
            f.write(cert_pem)
        with open(key, "w") as f:
            f.write(key_pem)
        os.chmod(key, 0o600)
        self.answers = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=thing, protocol=mqtt.MQTTv311
        )
        self.client.tls_set(
            ca_certs=server.ca_path, certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.subscribed = threading.Event()
        prefix = f"$aws/things/{thing}/defender/metrics/json"
        self.topic = prefix
        self.client.connect("127.0.0.1", server.mqtt_port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(30):
            raise AssertionError(f"{thing}: no CONNACK over mutual TLS")
        # Answers go only to subscribers: subscribe (and see the SUBACK) before publishing.
        # The default device policy grants exactly these two filters (no wildcards).
        self.client.subscribe([(prefix + "/accepted", 1), (prefix + "/rejected", 1)])
        if not self.subscribed.wait(30):
            raise AssertionError(f"{thing}: no SUBACK for the answer topics")

    def _on_connect(self, client, userdata, flags, reason, properties):
        if reason.is_failure:
            raise AssertionError(f"{self.thing}: connection refused: {reason}")
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            raise AssertionError(f"{self.thing}: subscription refused: {reason_codes}")
        self.subscribed.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.answers.append((msg.topic, json.loads(msg.payload)))
            self.cond.notify_all()

    def report(self, report_id, ports, bytes_out, temperature):
        """Publishes one report and waits for its `accepted` answer."""
        body = {
            "header": {"report_id": report_id, "version": "1.0"},
            "metrics": {
                "listening_tcp_ports": {
                    "ports": [{"port": p} for p in ports],
                    "total": len(ports),
                },
                "network_stats": {
                    "bytes_in": 100,
                    "bytes_out": bytes_out,
                    "packets_in": 1,
                    "packets_out": 1,
                },
            },
            "custom_metrics": {CUSTOM_METRIC: [{"number": temperature}]},
        }
        self.client.publish(self.topic, json.dumps(body), qos=1).wait_for_publish(30)
        end = time.monotonic() + 30
        with self.cond:
            while True:
                for topic, answer in self.answers:
                    if answer.get("reportId") == report_id:
                        if not topic.endswith("/accepted"):
                            raise AssertionError(f"{self.thing}: report rejected: {answer}")
                        return
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.thing}: no answer to report {report_id}")
                self.cond.wait(left)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def behaviors():
    consecutive = {"consecutiveDatapointsToAlarm": 1, "consecutiveDatapointsToClear": 1}
    return [
        {
            "name": "tcp-ports",
            "metric": "aws:listening-tcp-ports",
            "criteria": {
                "comparisonOperator": "in-port-set",
                "value": {"ports": [22, 443]},
                **consecutive,
            },
        },
        {
            "name": "bytes-out",
            "metric": "aws:all-bytes-out",
            "criteria": {
                "comparisonOperator": "less-than-equals",
                "statisticalThreshold": {"statistic": "p50"},
                "durationSeconds": 300,
                **consecutive,
            },
        },
        {
            "name": "hot",
            "metric": CUSTOM_METRIC,
            "criteria": {
                "comparisonOperator": "less-than",
                "value": {"number": 80},
                **consecutive,
            },
        },
    ]


class CompatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        binary = os.environ.get("FLEETWARD_BIN")
        if not binary or not os.access(binary, os.X_OK):
            raise RuntimeError("FLEETWARD_BIN must name the built fleetward binary (see scripts/compat.sh)")
        cls.server = Server(binary)
        cls.workdir = tempfile.mkdtemp(prefix="fleetward-compat-devices-")
        cls.iot = boto3.client(
            "iot",
            endpoint_url=cls.server.endpoint,
            region_name=REGION,
            aws_access_key_id=cls.server.access_key,
            aws_secret_access_key=cls.server.secret_key,
            config=botocore.config.Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
        cls.devices = []

    @classmethod
    def tearDownClass(cls):
        for d in cls.devices:
            d.close()
        shutil.rmtree(cls.workdir, ignore_errors=True)
        cls.server.stop()

    def run(self, result=None):
        # On failure, show what the server said.
        outcome = super().run(result)
        if result is not None and (result.failures or result.errors):
            print("\n--- fleetward serve log (tail) ---\n" + self.server.logs())
        return outcome

    def test_detect_scenario_end_to_end(self):
        iot = self.iot

        # 1. A thing group and things, each with a certificate from CreateKeysAndCertificate.
        group = iot.create_thing_group(
            thingGroupName=GROUP,
            thingGroupProperties={"thingGroupDescription": "compatibility test fleet"},
        )
        self.assertEqual(group["thingGroupArn"], f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/{GROUP}")
        policy = iot.create_policy(
            policyName="compat-connect",
            policyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": f"arn:aws:iot:{REGION}:{ACCOUNT}:client/${{iot:Connection.Thing.ThingName}}",
                }],
            }),
        )
        self.assertEqual(policy["policyVersionId"], "1")
        creds = {}
        for thing in THINGS:
            t = iot.create_thing(thingName=thing, attributePayload={"attributes": {"model": "cam-v2"}})
            self.assertEqual(t["thingArn"], f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{thing}")
            iot.add_thing_to_thing_group(thingGroupName=GROUP, thingName=thing)
            keys = iot.create_keys_and_certificate(setAsActive=True)
            self.assertEqual(len(keys["certificateId"]), 64)
            iot.attach_thing_principal(thingName=thing, principal=keys["certificateArn"])
            iot.attach_policy(policyName="compat-connect", target=keys["certificateArn"])
            creds[thing] = keys
        described = iot.describe_thing(thingName=OUTLIER)
        self.assertEqual(described["attributes"], {"model": "cam-v2"})
        self.assertEqual(described["defaultClientId"], OUTLIER)
        cert = iot.describe_certificate(certificateId=creds[OUTLIER]["certificateId"])
        self.assertEqual(cert["certificateDescription"]["status"], "ACTIVE")
        members = iot.list_things_in_thing_group(thingGroupName=GROUP)["things"]
        self.assertEqual(sorted(members), THINGS)
        principals = iot.list_thing_principals(thingName=OUTLIER)["principals"]
        self.assertEqual(principals, [creds[OUTLIER]["certificateArn"]])
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.describe_thing(thingName="no-such-thing")
        with self.assertRaises(iot.exceptions.InvalidRequestException):
            iot.delete_thing(thingName=OUTLIER)  # principals attached, as in AWS

        # 2. A custom metric and a profile with static, statistical and custom behaviors.
        metric = iot.create_custom_metric(
            metricName=CUSTOM_METRIC, metricType="number", displayName="Temperature"
        )
        self.assertEqual(metric["metricArn"], f"arn:aws:iot:{REGION}:{ACCOUNT}:custommetric/{CUSTOM_METRIC}")
        valid = iot.validate_security_profile_behaviors(behaviors=behaviors())
        self.assertTrue(valid["valid"], valid)
        created = iot.create_security_profile(
            securityProfileName=PROFILE,
            securityProfileDescription="compatibility test",
            behaviors=behaviors(),
        )
        self.assertEqual(created["securityProfileName"], PROFILE)
        self.assertEqual(iot.describe_security_profile(securityProfileName=PROFILE)["version"], 1)

        # 3. Attach it to the group.
        iot.attach_security_profile(
            securityProfileName=PROFILE, securityProfileTargetArn=group["thingGroupArn"]
        )
        targets = iot.list_targets_for_security_profile(securityProfileName=PROFILE)
        self.assertEqual(
            [t["arn"] for t in targets["securityProfileTargets"]], [group["thingGroupArn"]]
        )

        # 4. Real device reports through the broker. The outlier listens on a port outside the
        #    set, sends far more bytes than its peers and runs hot; the others conform. Reports
        #    are sent together at the start of a statistical window so that all three land in
        #    it, and repeated each window until the three violations are active.
        for thing in THINGS:
            self.devices.append(
                Device(self.server, thing, creds[thing]["certificatePem"],
                       creds[thing]["keyPair"]["PrivateKey"], self.workdir)
            )
        start = datetime.now(timezone.utc) - timedelta(seconds=5)
        wanted = {"tcp-ports", "bytes-out", "hot"}

        def outlier_violations():
            return {
                v["behavior"]["name"]: v
                for v in iot.list_active_violations(thingName=OUTLIER)["activeViolations"]
            }

        end = time.monotonic() + DEADLINE_S
        active = {}
        while time.monotonic() < end:
            # Wait for the start of the next window (windows end on multiples of WINDOW_S).
            time.sleep(WINDOW_S - (time.time() % WINDOW_S) + 0.2)
            report_id = int(time.time() * 1000)
            for d in self.devices:
                if d.thing == OUTLIER:
                    d.report(report_id, ports=[22, 4444], bytes_out=1_000_000, temperature=95.5)
                else:
                    d.report(report_id, ports=[22], bytes_out=100, temperature=20.0)
            time.sleep(WINDOW_S)  # let the window close
            active = outlier_violations()
            if wanted <= set(active):
                break
        self.assertEqual(set(active), wanted, "violations of the outlier")

        # 5. Read them back.
        by_profile = iot.list_active_violations(securityProfileName=PROFILE)["activeViolations"]
        self.assertEqual({v["thingName"] for v in by_profile}, {OUTLIER})
        statistical = iot.list_active_violations(
            securityProfileName=PROFILE, behaviorCriteriaType="STATISTICAL"
        )["activeViolations"]
        self.assertEqual([v["behavior"]["name"] for v in statistical], ["bytes-out"])
        self.assertEqual(active["hot"]["lastViolationValue"], {"number": 95.5})
        self.assertEqual(active["tcp-ports"]["lastViolationValue"]["ports"], [22, 4444])
        self.assertIsInstance(active["hot"]["violationStartTime"], datetime)

        now = datetime.now(timezone.utc) + timedelta(seconds=5)
        events = iot.list_violation_events(
            startTime=start, endTime=now, thingName=OUTLIER
        )["violationEvents"]
        in_alarm = {e["behavior"]["name"] for e in events if e["violationEventType"] == "in-alarm"}
        self.assertEqual(in_alarm, wanted)
        paginator = iot.get_paginator("list_violation_events")
        paged = [
            e for page in paginator.paginate(
                startTime=start, endTime=now, securityProfileName=PROFILE,
                PaginationConfig={"PageSize": 1},
            )
            for e in page["violationEvents"]
        ]
        self.assertEqual(len(paged), len(events))

        bytes_out = iot.list_metric_values(
            thingName=OUTLIER, metricName="aws:all-bytes-out", startTime=start, endTime=now
        )["metricDatumList"]
        self.assertTrue(bytes_out, "aws:all-bytes-out values of the outlier")
        self.assertTrue(all(d["value"]["count"] == 1_000_000 for d in bytes_out), bytes_out)
        temperatures = iot.list_metric_values(
            thingName=OUTLIER, metricName=CUSTOM_METRIC, startTime=start, endTime=now
        )["metricDatumList"]
        self.assertTrue(temperatures)
        self.assertEqual(temperatures[0]["value"], {"number": 95.5})

        # 6. The operator's verdict.
        violation = active["bytes-out"]["violationId"]
        iot.put_verification_state_on_violation(
            violationId=violation,
            verificationState="TRUE_POSITIVE",
            verificationStateDescription="exfiltration confirmed",
        )
        verified = iot.list_active_violations(
            thingName=OUTLIER, verificationState="TRUE_POSITIVE"
        )["activeViolations"]
        self.assertEqual([v["violationId"] for v in verified], [violation])
        self.assertEqual(verified[0]["verificationStateDescription"], "exfiltration confirmed")
        with self.assertRaises(iot.exceptions.InvalidRequestException):
            iot.put_verification_state_on_violation(
                violationId=violation, verificationState="MAYBE"
            )

    def test_bad_signature_is_refused(self):
        wrong = boto3.client(
            "iot",
            endpoint_url=self.server.endpoint,
            region_name=REGION,
            aws_access_key_id=self.server.access_key,
            aws_secret_access_key="x" * 40,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            wrong.list_security_profiles()
        self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)

    def test_aws_cli_lists_security_profiles(self):
        self.iot.create_security_profile(securityProfileName="cli-visible", behaviors=[])
        aws = shutil.which("aws")
        if aws is None:
            raise AssertionError("the AWS CLI (`aws`) is not on PATH; scripts/compat.sh installs it")
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.server.access_key,
            "AWS_SECRET_ACCESS_KEY": self.server.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        }
        out = subprocess.run(
            [aws, "iot", "list-security-profiles", "--endpoint-url", self.server.endpoint,
             "--output", "json"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        names = [p["name"] for p in json.loads(out.stdout)["securityProfileIdentifiers"]]
        self.assertIn("cli-visible", names)


if __name__ == "__main__":
    unittest.main(verbosity=2)
