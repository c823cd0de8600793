"""Seed the reliability suite's database with a tiny demo chain and print what the tests need as one JSON line.

    DATABASE_URL=postgres://…/retailops_reliability_123 python -m reliability.seed

A subprocess of the harness (run after `migrate`), with the same environment as the web and worker processes.
"""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402 — after django.setup()
from rest_framework.authtoken.models import Token  # noqa: E402

from demo.catalogue import DEMO_USERS, POS_USERNAME  # noqa: E402
from demo.load import DemoConfig, demo_load  # noqa: E402
from inventory.models import Product, Store, StoreMembership  # noqa: E402

# Four stores in two chains, ten products, 90 days of sales up to yesterday: enough history for a forecast run,
# small enough to load in seconds.
CONFIG = DemoConfig(seed=17, stores=4, stores_per_chain=2, products=10, customers=40, days=90, lines_per_store_day=20)


def main() -> None:
    demo_load(config=CONFIG)
    User = get_user_model()
    tokens = {
        name: Token.objects.get_or_create(user=User.objects.get(username=name))[0].key for name in ("owner", "staff")
    }
    staff_store = StoreMembership.objects.filter(user__username="staff").values_list("store_id", flat=True).first()
    stores = sorted(
        Store.objects.filter(active=True).values("id", "code"), key=lambda s: (s["id"] != staff_store, s["id"])
    )
    # The till of the first store: one POS device user per store ("pos-<code>"), or the chain's one ("pos").
    pos_names = [f"{POS_USERNAME}-{stores[0]['code'].lower()}", POS_USERNAME]
    tokens["pos"] = Token.objects.filter(user__username__in=pos_names).order_by("user__username").last().key
    products = [
        {"id": p.pk, "sku": p.sku, "price": str(p.mrp)}
        for p in Product.objects.filter(active=True, kind=Product.Kind.GOODS).order_by("pk")
    ]
    seeded = {
        "tokens": tokens,
        "passwords": {name: password for name, password, *_ in DEMO_USERS},
        "stores": stores,
        "products": products,
        "history_end": str(CONFIG.last_day),
    }
    print(json.dumps(seeded))


if __name__ == "__main__":
    main()
