"""RetailOps has no tables of its own; this module lets post_migrate reach the role sync."""
