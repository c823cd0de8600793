"""import_batch_run_again: what “Post import”, “Preview again” and “Run again” do to a batch (the batch page
enqueues what it answers)."""

import pytest
from django.core.exceptions import ValidationError

from sales.models import ImportBatch
from sales.services import import_batch_run_again

pytestmark = pytest.mark.django_db


def batch_of(**fields) -> ImportBatch:
    return ImportBatch.objects.create(source_name="pos.csv", **fields)


def state(batch: ImportBatch) -> tuple:
    batch.refresh_from_db()
    return batch.status, batch.progress, batch.message, batch.stats, batch.options


def test_a_done_batch_is_left_alone(world):
    batch = batch_of(status=ImportBatch.Status.DONE, progress=100, stats={"phase": "done"})

    assert import_batch_run_again(batch=batch, actor=world.owner) == ""
    assert state(batch) == ("done", 100, "", {"phase": "done"}, {})


def test_post_import_after_the_preview_queues_the_import(world):
    # given: a batch previewed, waiting for “Post import”
    batch = batch_of(stats={"phase": "preview", "preview": {"rows": 3}})

    # when
    queue = import_batch_run_again(batch=batch, actor=world.owner, action="post")

    # then
    assert queue == "post"
    assert state(batch) == ("pending", 0, "", {"phase": "queued", "preview": {"rows": 3}}, {})


def test_preview_again_with_create_stores_clears_the_preview_and_queues_it(world):
    batch = batch_of(stats={"phase": "preview", "preview": {"rows": 3}}, options={"delimiter": ";"})

    queue = import_batch_run_again(batch=batch, actor=world.owner, action="preview", create_stores=True)

    assert queue == "preview"
    assert state(batch) == ("pending", 0, "", {"phase": "previewing"}, {"delimiter": ";", "create_stores": True})


def test_a_preview_the_broker_never_took_is_queued_again_as_a_preview(world):
    batch = batch_of(stats={"phase": "previewing"}, message="The import could not be queued")

    assert import_batch_run_again(batch=batch, actor=world.owner) == "preview"
    assert state(batch) == ("pending", 0, "", {"phase": "previewing"}, {})


def test_a_failed_import_is_queued_again_from_the_start(world):
    batch = batch_of(status=ImportBatch.Status.FAILED, progress=100, message="worker lost", stats={"phase": "x"})

    assert import_batch_run_again(batch=batch, actor=world.owner) == "requeue"
    assert state(batch) == ("pending", 0, "", {"phase": "x"}, {})


def test_without_the_import_permission_nothing_changes(world):
    batch = batch_of(stats={"phase": "preview"})

    with pytest.raises(ValidationError, match="permission to import"):
        import_batch_run_again(batch=batch, actor=world.staff, action="post")

    assert state(batch) == ("pending", 0, "", {"phase": "preview"}, {})
