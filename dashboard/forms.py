"""Forms of the dashboard pages."""

from __future__ import annotations

from django import forms
from django.forms import inlineformset_factory
from django.utils.translation import gettext_lazy as _

from stations.models import Connector, Station


class StationForm(forms.ModelForm):
    password = forms.CharField(
        label=_("Basic-auth password"), required=False, widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to keep the current password."),
    )
    clear_password = forms.BooleanField(label=_("Remove the password"), required=False)

    class Meta:
        model = Station
        fields = ["charge_point_id", "name", "price_per_kwh", "currency", "address", "latitude", "longitude",
                  "description", "notes", "heartbeat_interval", "dismissed"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if self.instance.pk:
            # The id is what the charger sends: changing it would orphan the charger.
            self.fields["charge_point_id"].disabled = True

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        lat, lng = data.get("latitude"), data.get("longitude")
        if (lat is None) != (lng is None):
            raise forms.ValidationError(_("Give both latitude and longitude, or neither."))
        if lat is not None and not -90 <= lat <= 90:
            self.add_error("latitude", _("Latitude is between -90 and 90."))
        if lng is not None and not -180 <= lng <= 180:
            self.add_error("longitude", _("Longitude is between -180 and 180."))
        return data


ConnectorFormSet = inlineformset_factory(
    # Connectors are never deleted here: sessions and their history point at them.
    Station, Connector, fields=["connector_id", "connector_type", "max_power_kw"], extra=1, can_delete=False,
    min_num=0,
)


class TransactionFilterForm(forms.Form):
    station = forms.CharField(label=_("Station"), required=False)
    active = forms.ChoiceField(
        label=_("State"), required=False,
        choices=[("", _("all")), ("yes", _("charging")), ("no", _("finished"))],
    )
    q = forms.CharField(label=_("Id tag, user or station name"), required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
