from django.apps import AppConfig


class DemoAppConfig(AppConfig):
    """The demo chain (seed_demo) and the demo till (demo_till): no models, no pages.

    Top of the layering (DESIGN §2): it may import every app, and no app imports it.
    """

    name = "demo"
