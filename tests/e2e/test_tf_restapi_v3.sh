#!/usr/bin/env bash
# Terraform with the real Mastercard/restapi provider 3.0.0 against the classic lab
# (deploy/lab.sh up --mgmt, deploy/terraform/examples/classic-lab): tests/e2e/tf_lib.sh
# says what is checked. Skipped (exit 77) only where terraform or the mirror is absent.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/tf_lib.sh
. "$HERE/tf_lib.sh"
tf_require 3.0.0
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/sg_lib.sh
. "$HERE/sg_lib.sh"

e2e_init tf_restapi_v3
tf_test 3.0.0
e2e_done
