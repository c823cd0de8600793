"""Roles are groups with the permissions of DESIGN §8; code checks permissions, not names."""

import pytest
from django.contrib.auth.models import Group

from inventory.tests.factories import make_user
from retailops.roles import roles_sync

pytestmark = pytest.mark.django_db


def test_groups_exist_after_migrate_and_sync_is_idempotent():
    before = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    roles_sync()
    roles_sync()
    after = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    assert set(after) == {"staff", "owner", "accountant"}
    assert before == after


@pytest.mark.parametrize(
    ("perm", "staff", "owner", "accountant"),
    [
        ("inventory.add_stockcount", True, True, False),
        ("inventory.view_all_stores", False, True, True),
        ("inventory.view_cost", False, True, True),
        ("inventory.reconcile_stockcount", False, True, False),
        ("inventory.approve_purchaseorder", False, True, False),
        ("sales.view_salesdaily", True, True, True),
        ("sales.view_profit", False, True, True),
        ("sales.export_reports", False, True, True),
        ("sales.import_sales", False, True, False),
        ("customers.view_customer_pii", False, True, False),
        ("auth.change_user", False, True, False),
        ("inventory.change_product", False, True, False),
    ],
)
def test_role_matrix(perm, staff, owner, accountant):
    users = {"staff": make_user("staff"), "owner": make_user("owner"), "accountant": make_user("accountant")}
    assert {role: u.has_perm(perm) for role, u in users.items()} == {
        "staff": staff,
        "owner": owner,
        "accountant": accountant,
    }


def test_accountant_changes_nothing():
    accountant = make_user("accountant")
    perms = accountant.get_all_permissions()
    writes = sorted(p for p in perms if p.split(".")[1].split("_")[0] in {"add", "change", "delete"})
    assert writes == []
