"""The oracle suite (tests/codegen/oracle) is collected only with ``ORACLE=1``: `make test` runs
it as its own step, on two workers (``-n 2 --dist loadgroup``), derandomised with 2 examples
per operation, after the main suite; `make oracle` runs that step alone and `make fuzz` runs it
deep. It is kept out of the main pytest run because it generates and serves every corpus spec
(minutes of work) and because its judges' known limitations are settled against
tests/codegen/oracle/judge_limits.json, which only a complete derandomised run can hold to
account (an entry that matches nothing fails that run).
"""

from __future__ import annotations

import os

collect_ignore = [] if os.environ.get("ORACLE") == "1" else ["oracle"]
