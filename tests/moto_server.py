"""moto_server with the fixes AuthDomain's tests need, each a gap between moto and AWS.

Run like `moto_server`: python3 tests/moto_server.py -H 127.0.0.1 -p PORT

- Lambda: moto accepts `KMSKeyArn` on create_function / update_function_configuration but
  never returns it; AWS does (GetFunction -> Configuration.KMSKeyArn). Without it every plan
  would see the customer-managed key as missing.
"""

import sys

from moto.awslambda import models
from moto.server import main

_init = models.LambdaFunction.__init__
_configuration = models.LambdaFunction.get_configuration
_update = models.LambdaFunction.update_configuration


def _patched_init(self, account_id, spec, region, version=1):
    _init(self, account_id, spec, region, version)
    self.authdomain_kms_key_arn = spec.get("KMSKeyArn") or None


def _patched_configuration(self, on_create=False):
    config = _configuration(self, on_create)
    key = getattr(self, "authdomain_kms_key_arn", None)
    if key:
        config["KMSKeyArn"] = key
    return config


def _patched_update(self, config_updates):
    if "KMSKeyArn" in config_updates:
        self.authdomain_kms_key_arn = config_updates["KMSKeyArn"] or None
    return _update(self, config_updates)


models.LambdaFunction.__init__ = _patched_init
models.LambdaFunction.get_configuration = _patched_configuration
models.LambdaFunction.update_configuration = _patched_update

if __name__ == "__main__":
    sys.exit(main())
