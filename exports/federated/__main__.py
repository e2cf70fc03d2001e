"""`python -m exports.federated`: the same command as `gdsi-federated`."""

import sys

from exports.federated.command import main

sys.exit(main())
