"""Make a data file with N clients in a realistic mix of states: python gen_data.py N OUT.{json,yaml} [--committable].

With --committable every client passes deactivate-client for u1 (none is blocked);
the random draws are the same, so the users of each client are too.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any


def make(n: int, seed: int = 7, *, committable: bool = False) -> dict[str, Any]:
    """N clients; with `committable`, every one passes deactivate-client's rules for u1 (p1's client, paid by p1, active)."""
    rng = random.Random(seed)
    partners = [
        {"id": "p1", "name": "Northwind Bookkeeping", "users": [
            {"id": "u1", "name": "Alice Admin", "email": "alice@northwind.example", "role": "administrator"},
            {"id": "u2", "name": "Sam Standard", "email": "sam@northwind.example", "role": "standard"},
        ]},
        {"id": "p2", "name": "Harbor Accounts", "users": [
            {"id": "u3", "name": "Hana Harbor", "email": "hana@harbor.example", "role": "administrator"},
        ]},
    ]  # fmt: skip
    clients = []
    for i in range(n):
        users = [
            {"id": f"c{i}u{j}", "name": f"User {j} of {i}", "email": f"user{j}@client{i}.example",
             "role": "administrator" if j == 0 else "standard", "status": "active" if j < 2 else "invited"}
            for j in range(rng.choice([0, 1, 1, 2, 2, 3]))
        ]  # fmt: skip
        clients.append({
            "id": f"c{i:06d}", "name": f"Client {i} Ltd", "partner": "p1" if rng.random() < 0.9 or committable else "p2",
            "billing": "partner" if rng.random() < 0.8 or committable else "self_paying",
            "subscription": "active" if rng.random() < 0.85 or committable else "deactivated", "owner": None, "users": users,
        })  # fmt: skip
    return {"partners": partners, "clients": clients}


def main() -> None:
    n, out = int(sys.argv[1]), Path(sys.argv[2])
    data = make(n, committable="--committable" in sys.argv[3:])
    if out.suffix == ".json":
        out.write_text(json.dumps(data), encoding="utf-8")
    else:
        import yaml

        out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    main()
