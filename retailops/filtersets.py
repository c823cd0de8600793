"""What the pages' query-string FilterSets share (inventory/filters.py, forecasting/filters.py, reports/filters.py):
fields that read an id, a day or a number the way the pages always have, and a FilterSet base that reads each
parameter on its own and hands the cleaned values to a selector; and the API's filter backend, stricter than the
pages: a filter parameter given empty or with a value it cannot read is a 400 naming it, never ignored."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters import utils
from django_filters.fields import ChoiceField, ModelChoiceField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions


def _digits(value: str) -> bool:
    # str.isdigit alone also accepts "²" and other digits int() cannot read
    return value.isascii() and value.isdigit()


class IdField(forms.Field):
    """A row id: digits only, surrounding spaces ignored ("+3", "-3" and "3.0" are not ids)."""

    def to_python(self, value) -> int | None:
        value = str(value if value is not None else "").strip()
        if not value:
            return None
        if not _digits(value):
            raise ValidationError("Enter an id (digits only).", code="invalid")
        return int(value)


class ModelIdField(ModelChoiceField):
    """A model chosen by its id, written as IdField reads it; an id that does not exist does not validate."""

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip()
            if value and not _digits(value):
                raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class IsoDateField(forms.DateField):
    """A day as YYYY-MM-DD (what date.fromisoformat reads), surrounding spaces ignored; nothing else."""

    input_formats = ["iso"]

    def strptime(self, value: str, format: str) -> date:
        return date.fromisoformat(value)


class DecimalParamField(forms.Field):
    """A number as Decimal reads it (infinity included, NaN not); the page clamps it to its range."""

    def to_python(self, value) -> Decimal | None:
        value = str(value if value is not None else "").strip()
        if not value:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValidationError("Enter a number.", code="invalid") from None
        if number.is_nan():
            raise ValidationError("Enter a number.", code="invalid")
        return number


class StrippedChoiceField(ChoiceField):
    """A choice, surrounding spaces ignored."""

    def to_python(self, value) -> str:
        return super().to_python(value).strip()


class ValuesField(forms.Field):
    """Every value of a repeated parameter (?store=1&store=2), stripped, empty ones dropped."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        if isinstance(value, str):
            value = [value]
        return [v.strip() for v in value or () if v and v.strip()]


class IdFilter(django_filters.Filter):
    field_class = IdField


class ModelIdFilter(django_filters.ModelChoiceFilter):
    field_class = ModelIdField


class IsoDateFilter(django_filters.Filter):
    field_class = IsoDateField


class DecimalParamFilter(django_filters.Filter):
    field_class = DecimalParamField


class StrippedChoiceFilter(django_filters.ChoiceFilter):
    field_class = StrippedChoiceField


class ValuesFilter(django_filters.Filter):
    field_class = ValuesField


class QueryParamsFilterSet(django_filters.FilterSet):
    """A page's query string, read by this FilterSet's form. Each parameter stands alone: one that is missing or
    does not validate takes its default and the others still apply, so a stale or hand-edited link never costs the
    whole filter (nor a 500). The page passes the cleaned values to its selector, which does the filtering and the
    scoping by user; `qs` is not used."""

    # Values of parameters absent from the query string. An empty one is not absent ("?status=" means every
    # status where a missing status means the default one).
    absent: ClassVar[dict[str, str]] = {}

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and any(name not in data for name in self.absent):
            data = data.copy()
            for name, value in self.absent.items():
                if name not in data:
                    data[name] = value
        super().__init__(data, *args, **kwargs)

    def cleaned(self, name: str, default: Any = None) -> Any:
        """The cleaned value of one parameter; `default` when it is missing or does not validate."""
        if not self.is_bound or not self.form.is_valid() and name in self.form.errors:
            return default
        value = self.form.cleaned_data.get(name)
        return default if value is None else value

    def raw(self, name: str) -> str:
        """The parameter as written (its last value), for a notice that quotes it."""
        return self.data.get(name) or ""

    def filter_queryset(self, queryset):
        raise NotImplementedError(f"{type(self).__name__} reads a query string: its selector filters.")


class ApiFilterBackend(DjangoFilterBackend):
    """The API's filters (REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"]), for any FilterSet a viewset declares.

    Where a page shows everything for `?store=` (a cleared form field), a script that sends an empty or unreadable
    filter has a bug: filtering nothing would answer with every row as if it had matched. So the API answers 400,
    the body naming each such parameter: `{"store": ["“store” is empty: give a value or leave it out."]}`.
    An invalid value (`?date_from=yesterday`) is a 400 from the FilterSet's form, as django-filter does.
    """

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        given = {name: request.query_params.getlist(name) for name in filterset.filters if name in request.query_params}
        empty = {
            name: [f"“{name}” is empty: give a value or leave it out."]
            for name, values in given.items()
            if not any(v.strip() for v in values)
        }
        if empty:
            raise exceptions.ValidationError(empty)
        if not filterset.is_valid():
            raise utils.translate_validation(filterset.errors)
        unread = {  # e.g. a yes/no filter given "maybe": the form reads it as no filter at all
            name: [f"“{name}” has a value that is not understood: {values[-1][:40]!r}."]
            for name, values in given.items()
            if filterset.form.cleaned_data.get(name) is None
        }
        if unread:
            raise exceptions.ValidationError(unread)
        return filterset.qs
