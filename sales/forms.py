"""Forms of the sales pages: the POS file upload."""

from django import forms
from django.conf import settings

from .models import ColumnMapping

POLICY_CHOICES = [("", "as the mapping says"), ("create", "create them"), ("reject", "reject their receipts")]
CUSTOMER_CHOICES = [
    ("", "as the mapping says"),
    ("create", "create them as loyalty customers"),
    ("anonymous", "post their sales without a customer"),
    ("reject", "reject their receipts"),
]


def size_text(n: int) -> str:
    return f"{n / (1024 * 1024):,.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:,.0f} KB"


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV or XLSX as the till exports it; .gz compressed files are welcome.")
    mapping = forms.ModelChoiceField(
        queryset=ColumnMapping.objects.order_by("name"),
        required=False,
        empty_label="detect from the columns",
        help_text="How the file's columns map onto RetailOps (saved per source; edit them in the admin).",
    )
    store = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="as the file / mapping says", help_text="Post every row here."
    )
    unknown_products = forms.ChoiceField(choices=POLICY_CHOICES, required=False, label="Unknown products")
    customers = forms.ChoiceField(choices=CUSTOMER_CHOICES, required=False, label="Unknown customer codes")
    create_stores = forms.BooleanField(
        required=False,
        initial=False,
        label="Create the stores the file names",
        help_text="Off: rows for a store that does not exist are rejected. A new store shows in every store "
        "filter and export.",
    )
    sheet = forms.CharField(required=False, max_length=31, help_text="XLSX with several sheets: the sheet to read.")
    encoding = forms.ChoiceField(
        required=False,
        choices=[("", "detect (UTF-8, else Windows-1252)"), ("utf-8", "UTF-8"), ("cp1252", "Windows-1252"),
                 ("latin-1", "Latin-1")],
    )  # fmt: skip

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.RETAILOPS["MAX_UPLOAD_BYTES"]
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {size_text(upload.size)}; the limit is {size_text(limit)}. Compress it (.gz) or split it."
            )
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        return upload

    def options(self) -> dict:
        data = self.cleaned_data
        options = {k: data[k] for k in ("unknown_products", "customers", "sheet", "encoding") if data.get(k)}
        options["create_stores"] = bool(data.get("create_stores"))
        return options
