"""The state service's database layer: models, engines, migrations."""
