"""`seed_demo --reset` wipes only a database the demo made, unless told --i-know-this-deletes-real-data."""

from dataclasses import replace

import pytest
from django.core.management import CommandError, call_command

from demo.load import DemoResetRefused, demo_counts, demo_foreign_data, demo_load, demo_reset
from inventory.models import Store
from inventory.tests.factories import StoreFactory
from sales.models import ImportBatch, Sale

from .test_demo import TINY

pytestmark = pytest.mark.django_db

SMALL = replace(TINY, days=60, customers=20)  # the guard reads stores, imports and receipts: a short history will do


@pytest.fixture
def chain():
    demo_load(config=SMALL)
    return demo_counts()


def test_a_database_the_demo_made_holds_nothing_foreign(chain):
    assert chain["sales"] > 0
    assert demo_foreign_data() == []


def _refused(match: str, before: dict) -> None:
    with pytest.raises(CommandError, match="refused, nothing was deleted") as refused:
        call_command("seed_demo", "--reset")
    message = str(refused.value)
    assert match in message
    assert "--i-know-this-deletes-real-data" in message
    assert demo_counts() == before  # nothing deleted


def test_reset_refuses_a_database_with_a_store_the_demo_did_not_make(chain):
    StoreFactory(code="KX1", name="King's Cross")
    _refused("1 store not in the demo catalogue (KX1)", demo_counts())


def test_reset_refuses_a_database_with_receipts_the_demo_did_not_make(chain):
    sale = Sale.objects.order_by("pk").first()
    Sale.objects.filter(pk=sale.pk).update(pos_reference="EPOS-000123")  # e.g. a real till on a demo store
    _refused("1 receipt not made by the demo", demo_counts())


def test_reset_refuses_a_database_with_an_import(chain):
    ImportBatch.objects.create(source_name="pos-export-2026-11.csv")
    _refused("1 import of sales files", demo_counts())


def test_the_demo_reset_itself_refuses_without_force():
    StoreFactory(code="OWN")
    with pytest.raises(DemoResetRefused, match="store not in the demo catalogue"):
        demo_reset()
    assert Store.objects.filter(code="OWN").exists()


def test_the_force_flag_wipes_anyway(chain, monkeypatch):
    StoreFactory(code="KX1")

    def reload_stands_in(**kwargs):  # the wipe is what is tested, not the reload of the whole demo chain after it
        raise _Reloading

    monkeypatch.setattr("demo.management.commands.seed_demo.demo_load", reload_stands_in)
    with pytest.raises(_Reloading):
        call_command("seed_demo", "--reset", "--i-know-this-deletes-real-data")
    assert all(n == 0 for n in demo_counts().values())


def test_the_force_flag_needs_reset():
    with pytest.raises(CommandError, match="goes with --reset"):
        call_command("seed_demo", "--i-know-this-deletes-real-data")


class _Reloading(Exception):
    pass
