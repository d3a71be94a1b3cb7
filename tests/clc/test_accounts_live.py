"""A second user, made with euca_conf, uses the running CLC with the eucarc from their zip.

Everything is as an admin and a user would do it: ``euca_conf --add-user``
and ``--get-credentials bob.zip --user bob`` on a real install, the zip
unpacked, ``. eucarc`` in bash, then awscli and boto3 (reading only the
environment the eucarc made) against a real ``eucalyptus-clc`` process,
on SQLite and on PostgreSQL.  Disabled users and rotated secrets are refused.
"""

import json
import os
import subprocess
import textwrap
import zipfile

from twisted.internet import threads

from tests.clc.livecloud import LiveCloud
from tests.dbengines import bothEngines

#: boto3 with nothing but the eucarc's environment: keys, region, endpoint.
BOTO3_SCRIPT = textwrap.dedent("""
    import json, os, boto3
    from botocore.config import Config
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    ec2 = boto3.client("ec2", endpoint_url=os.environ["EC2_URL"], config=config)
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_URL"], config=config)
    s3.create_bucket(Bucket="bob-boto3")
    s3.put_object(Bucket="bob-boto3", Key="hello", Body=b"from bob")
    print(json.dumps({
        "zones": [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]],
        "reservations": len(ec2.describe_instances()["Reservations"]),
        "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"]),
        "body": s3.get_object(Bucket="bob-boto3", Key="hello")["Body"].read().decode(),
    }))
""")


class SecondUserTests:
    """Mixed into one TestCase per engine (``tests.dbengines``)."""

    timeout = 300

    def test_secondUserWithTheirZip(self):
        """bob's zip works for awscli and boto3; disabling and rotation refuse the old keys."""
        url = None if self.engine == "sqlite" else self.databaseUrl(empty=True)
        cloud = LiveCloud(self, databaseUrl=url)
        return threads.deferToThread(self.scenario, cloud)

    def unpack(self, cloud, name):
        path = os.path.join(cloud.prefix, name + ".zip")
        code, _, err = cloud.euca_conf("--get-credentials", path, "--user", "bob")
        self.assertEqual(code, 0, err)
        directory = os.path.join(cloud.prefix, name)
        with zipfile.ZipFile(path) as archive:
            archive.extractall(directory)
        return os.path.join(directory, "eucarc")

    def shell(self, cloud, eucarc, command):
        """``(status, stdout, stderr)`` of ``. eucarc && command`` in bash."""
        home = os.path.join(cloud.prefix, "home")
        os.makedirs(home, exist_ok=True)
        result = subprocess.run(["bash", "-c", '. "%s" && %s' % (eucarc, command)],
                                env=cloud.clientEnv(home), cwd=home, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=120)
        return result.returncode, result.stdout, result.stderr

    def aws(self, cloud, eucarc, args):
        return self.shell(cloud, eucarc, 'aws --endpoint-url "$EC2_URL" --output json '
                          + args)

    def scenario(self, cloud):
        cloud.start()
        code, out, err = cloud.euca_conf("--add-user", "bob", "--email", "bob@example.com")
        self.assertEqual(code, 0, err)
        eucarc = self.unpack(cloud, "bob-1")

        code, out, err = self.aws(cloud, eucarc, "ec2 describe-availability-zones")
        self.assertEqual(code, 0, err)
        self.assertIn("AvailabilityZones", json.loads(out))
        code, out, err = self.shell(cloud, eucarc, 'python -c "$BOTO3_SCRIPT"'.replace(
            "$BOTO3_SCRIPT", BOTO3_SCRIPT.replace('"', '\\"')))
        self.assertEqual(code, 0, err)
        seen = json.loads(out)
        self.assertEqual(seen["buckets"], ["bob-boto3"])
        self.assertEqual(seen["body"], "from bob")
        self.assertEqual(seen["reservations"], 0)
        # The bucket is bob's: the account list shows it under his name only.
        code, out, err = self.shell(
            cloud, eucarc, 'aws --endpoint-url "$S3_URL" --output json s3api list-buckets')
        self.assertEqual(code, 0, err)
        self.assertEqual([b["Name"] for b in json.loads(out)["Buckets"]], ["bob-boto3"])

        # Disabled: refused; enabled again: served.
        cloud.euca_conf("--disable-user", "bob")
        code, _, err = self.aws(cloud, eucarc, "ec2 describe-instances")
        self.assertNotEqual(code, 0)
        self.assertIn("AuthFailure", err)
        cloud.euca_conf("--enable-user", "bob")
        code, _, err = self.aws(cloud, eucarc, "ec2 describe-instances")
        self.assertEqual(code, 0, err)

        # Rotation: the old eucarc is refused, new credentials work.
        code, _, err = cloud.euca_conf("--rotate-secret", "bob")
        self.assertEqual(code, 0, err)
        code, _, err = self.aws(cloud, eucarc, "ec2 describe-instances")
        self.assertNotEqual(code, 0)
        self.assertIn("AuthFailure", err)
        fresh = self.unpack(cloud, "bob-2")
        code, _, err = self.aws(cloud, fresh, "ec2 describe-instances")
        self.assertEqual(code, 0, err)
        code, out, err = self.shell(
            cloud, fresh, 'aws --endpoint-url "$S3_URL" --output json s3api list-buckets')
        self.assertEqual(code, 0, err)
        self.assertEqual([b["Name"] for b in json.loads(out)["Buckets"]], ["bob-boto3"])


bothEngines(SecondUserTests, globals())
