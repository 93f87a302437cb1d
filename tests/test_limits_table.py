"""README's limits table names every variable ``Limits.from_env`` reads, so a new bound cannot
go undocumented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_limit_variable_is_in_the_readme_table():
    from dmdviz.limits import Limits

    read = set(re.findall(r'"(DMDVIZ_[A-Z_]+)"', inspect.getsource(Limits.from_env)))
    assert len(read) >= 25, sorted(read)
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| ")]
    missing = {name for name in read if not any(f"`{name}`" in row for row in rows)}
    assert not missing, f"not in README's limits table: {sorted(missing)}"
