"""``python -m qtn.quantum.native``: build (or find cached) every native kernel."""

import sys

from qtn.quantum.native.build import main

sys.exit(main())
